"""The banded audio encoder is local: a shifted input gives the same output shifted, windows
agree with one pass over the whole input, and padded spans stay finite."""
import pytest
import torch

from talkinghead.audio.encoder import AudioEncoder
from talkinghead.export.graphs import AudioFront, AudioSpan, span_input

# receptive field: front convolutions ±2, position convolution ±7, attention layers × band
LAYERS, BAND = 2, 3
REACH = 2 + 7 + LAYERS * BAND


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return AudioEncoder(dim=16, layers=LAYERS, heads=2, window=20, context=LAYERS * BAND, band=BAND).eval()


@pytest.mark.parametrize("shift", [1, 7, 25])
def test_shifted_input_shifts_the_output(encoder, shift):
    features = torch.randn(2, 97, 323)
    with torch.no_grad():
        whole, later = encoder(features), encoder(features[:, shift:])
    torch.testing.assert_close(later[:, REACH:-REACH], whole[:, shift + REACH:-REACH], atol=1e-5, rtol=1e-5)


def test_windows_agree_with_one_pass(encoder):
    one_pass = AudioEncoder(**{**encoder.config, "window": 1000}).eval()
    one_pass.load_state_dict(encoder.state_dict())
    features = torch.randn(1, 131, 323)                    # 131 = 4 windows of 20 with context, and a rest
    with torch.no_grad():
        torch.testing.assert_close(encoder(features), one_pass(features), atol=1e-5, rtol=1e-5)


def test_full_attention_is_not_local():
    torch.manual_seed(0)
    full = AudioEncoder(dim=16, layers=LAYERS, heads=2, window=1000, context=6).eval()   # band=None
    features = torch.randn(1, 97, 323)
    with torch.no_grad():
        whole, later = full(features), full(features[:, 7:])
    assert (later[:, REACH:-REACH] - whole[:, 7 + REACH:-REACH]).abs().max() > 1e-3


def test_padded_span_matches_and_stays_finite(encoder):
    features = torch.randn(1, 9, 323)                      # a short clip: most of the span is padding
    with torch.no_grad():
        x, valid = span_input(AudioFront(encoder)(features), 32)
        y = AudioSpan(encoder)(x, valid)
        assert torch.isfinite(y).all()
        torch.testing.assert_close(y[:, :9], encoder(features), atol=1e-5, rtol=1e-5)
