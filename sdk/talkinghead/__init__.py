"""talkinghead."""
