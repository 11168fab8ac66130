"""talkinghead: offline talking-head video from one portrait and one speech recording."""
__version__ = "0.1.0"
