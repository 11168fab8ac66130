"""Training commands for the audio encoder, lip model and motion priors."""
