"""Motion codes: geometry, compose/fit inverse, identity-free codes, semantics, real clips,
basis persistence and fitting a basis."""
from __future__ import annotations

import copy
import csv
import itertools
import json

import numpy as np
import pytest

from talkinghead.errors import BundleError, MotionFitError
from talkinghead.face import topology as topo
from talkinghead.motion import MotionBasis, Neutral, canonicalize, compose, estimate_neutral, fit, fit_basis
from talkinghead.motion import codes as mcodes
from talkinghead.motion import regions
from talkinghead.evaluation.codes import reconstruction_error
from talkinghead.motion.geometry import euler_to_matrix, fit_similarity, matrix_to_euler
from talkinghead.media.video import read_video

GROUPS = ("pose", "eyes", "expression", "lip")


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def example_mesh(example_face) -> np.ndarray:
    return example_face.mesh.astype(np.float64)


@pytest.fixture(scope="module")
def neutral(example_mesh, basis) -> Neutral:
    return estimate_neutral(example_mesh, basis)


@pytest.fixture(scope="module")
def other_neutral(analyzer, basis, shared_data) -> Neutral:
    mesh = analyzer.analyze(shared_data / "portraits" / "pd_obama_official_portrait.jpg").mesh
    return estimate_neutral(mesh.astype(np.float64), basis)


def _random_codes(basis: MotionBasis, frames: int, seed: int, groups=GROUPS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    full = rng.standard_normal((frames, basis.layout.dim)) * basis.code_std
    codes = np.zeros_like(full)
    for group in groups:
        sl = basis.layout.groups()[group]
        codes[:, sl] = full[:, sl]
    return codes


def _worst(err: np.ndarray, basis: MotionBasis) -> str:
    per_code = err.reshape(-1, basis.layout.dim).max(axis=0)
    worst = {basis.layout.names[i]: f"{per_code[i]:.2e}" for i in np.argsort(per_code)[::-1][:4]}
    return f"largest code errors: {worst}"


# -- geometry ---------------------------------------------------------------------------------
def test_fit_similarity_recovers_known_transforms():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(40, 3))
    scale = rng.uniform(0.5, 3.0, size=6)
    rot = euler_to_matrix(rng.uniform(-1.0, 1.0, size=(6, 3)))
    trans = rng.normal(scale=10.0, size=(6, 3))
    target = scale[:, None, None] * np.einsum("tij,kj->tki", rot, source) + trans[:, None]
    weights = rng.uniform(0.1, 1.0, size=40)
    # points with zero weight may be anywhere
    weights[:5] = 0.0
    target[:, :5] += rng.normal(scale=50.0, size=(6, 5, 3))
    s, r, t = fit_similarity(source, target, weights)
    assert s.shape == (6,) and r.shape == (6, 3, 3) and t.shape == (6, 3)
    np.testing.assert_allclose(s, scale, atol=1e-9)
    np.testing.assert_allclose(r, rot, atol=1e-9)
    np.testing.assert_allclose(t, trans, atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


def test_fit_similarity_never_reflects():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(30, 3))
    mirrored = source * np.array([-1.0, 1.0, 1.0])
    _, r, _ = fit_similarity(source, mirrored[None], np.ones(30))
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


def test_euler_round_trip():
    rng = np.random.default_rng(2)
    angles = rng.uniform(-1.2, 1.2, size=(500, 3))
    mats = euler_to_matrix(angles)
    assert mats.shape == (500, 3, 3)
    np.testing.assert_allclose(mats @ np.swapaxes(mats, -1, -2), np.broadcast_to(np.eye(3), mats.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(mats), 1.0, atol=1e-12)
    np.testing.assert_allclose(matrix_to_euler(mats), angles, atol=1e-10)


def test_euler_axes():
    a = 0.4
    c, s = np.cos(a), np.sin(a)
    np.testing.assert_allclose(euler_to_matrix([a, 0, 0]), [[c, 0, s], [0, 1, 0], [-s, 0, c]], atol=1e-15)  # yaw
    np.testing.assert_allclose(euler_to_matrix([0, a, 0]), [[1, 0, 0], [0, c, -s], [0, s, c]], atol=1e-15)  # pitch
    np.testing.assert_allclose(euler_to_matrix([0, 0, a]), [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-15)  # roll


# -- compose / fit ----------------------------------------------------------------------------
def test_neutral_is_its_own_canonical_pose(example_mesh, neutral, basis):
    assert neutral.shape.shape == (478, 3)
    # pixels per canonical unit ≈ the portrait's inter-ocular distance
    assert neutral.scale == pytest.approx(float(topo.inter_ocular(example_mesh)), rel=0.15)
    np.testing.assert_allclose(neutral.rotation @ neutral.rotation.T, np.eye(3), atol=1e-12)
    # canonicalising the neutral shape is the identity transform
    _, s, r, t = canonicalize(neutral.shape, basis)
    np.testing.assert_allclose(s, [1.0], atol=1e-10)
    np.testing.assert_allclose(r[0], np.eye(3), atol=1e-10)
    np.testing.assert_allclose(t[0], 0.0, atol=1e-10)
    # zero codes give the photo back (the neutral of a single photo is that photo)
    rebuilt = compose(neutral, np.zeros((1, basis.layout.dim)), basis)[0]
    lip_or_stable = basis.lip_region | basis.stable
    err = np.linalg.norm(rebuilt[~lip_or_stable, :2] - example_mesh[~lip_or_stable, :2], axis=1)
    assert err.max() < 1e-6
    codes, _ = fit(example_mesh, basis, neutral)
    assert codes.shape == (1, basis.layout.dim)
    # only lip codes differ from 0: the portrait smiles with its lips apart, the neutral's are closed
    assert np.abs(codes[0, :basis.layout.lip.start]).max() < 1e-9
    assert np.abs(codes[0, basis.layout.lip]).max() > 0.1


@pytest.mark.parametrize("groups", [("pose",), ("eyes",), ("expression",), ("lip",), GROUPS],
                         ids=["pose", "eyes", "expression", "lip", "all"])
def test_compose_then_fit_returns_the_codes(neutral, basis, groups):
    codes = _random_codes(basis, 16, seed=3, groups=groups)
    meshes = compose(neutral, codes, basis)
    assert meshes.shape == (16, 478, 3) and np.isfinite(meshes).all()
    back, used = fit(meshes, basis, neutral)
    assert used is neutral
    assert np.abs(back - codes).max() < 1e-8, _worst(np.abs(back - codes), basis)


# What compose → fit being exact relies on, as motion/fitting.py builds a basis.
def test_bundled_basis_regions_are_disjoint(basis):
    assert not (basis.lip_region & basis.expression_region).any()
    assert not (basis.lip_region & basis.eye_region).any()
    assert not (basis.expression_region & basis.eye_region).any()
    assert np.abs(basis.lip_basis[:, ~basis.lip_region]).max() == 0
    assert np.abs(basis.expression_basis[:, ~basis.expression_region]).max() == 0
    assert np.abs(basis.blink_basis[:, ~basis.eye_region]).max() == 0


def test_bundled_expression_basis_leaves_stable_points_alone(basis):
    """Stable points carry the head pose: an expression that moves them leaks into pose
    (and, through the pose, into every other code)."""
    moved = np.abs(basis.expression_basis[:, basis.stable]).max(axis=(0, 2))
    assert moved.max() == 0, f"expression moves {int((moved > 0).sum())} of {int(basis.stable.sum())} stable points by up to {moved.max():.4f}"


def test_bundled_blink_basis_leaves_eye_corners_alone(basis):
    """Gaze is measured from the eye corners: a blink that moves them changes the gaze code."""
    for eye, corners in enumerate((topo.LEFT_EYE_CORNERS, topo.RIGHT_EYE_CORNERS)):
        moved = np.abs(basis.blink_basis[eye, list(corners)]).max()
        assert moved == 0, f"blink {basis.layout.names[6 + eye]} moves corners {corners} by up to {moved:.3f}"


def test_codes_carry_no_identity(neutral, other_neutral, basis):
    assert other_neutral.scale > 1.5 * neutral.scale  # a much larger face in pixels
    codes = _random_codes(basis, 12, seed=4)
    a = compose(neutral, codes, basis)
    b = compose(other_neutral, codes, basis)
    assert np.abs(a - b).max() > 10  # different people, different pixels
    back_a, _ = fit(a, basis, neutral)
    back_b, _ = fit(b, basis, other_neutral)
    assert np.abs(back_a - back_b).max() < 1e-8, _worst(np.abs(back_a - back_b), basis)
    assert np.abs(back_a - codes).max() < 1e-8, _worst(np.abs(back_a - codes), basis)


def test_lip_motion_agrees_in_canonical_units(neutral, other_neutral, basis):
    lip = np.zeros((2, basis.layout.dim))
    lip[0, basis.layout.lip] = 2 * basis.code_std[basis.layout.lip]
    moved = {}
    for key, n in (("example", neutral), ("other", other_neutral)):
        meshes = compose(n, lip, basis)                                   # frame 0 speaks, frame 1 rests
        pixels = np.linalg.norm(meshes[0, :, :2] - meshes[1, :, :2], axis=1)
        canon = canonicalize(meshes, basis)[0]
        moved[key] = (pixels, canon[0] - canon[1])
        assert pixels[~basis.lip_region].max() < 1e-9                     # only the mouth and jaw move
        assert pixels[basis.lip_region].mean() > 1.0
    ratio = moved["other"][0][basis.lip_region].mean() / moved["example"][0][basis.lip_region].mean()
    assert ratio > 1.5                                                    # pixels differ with face size
    np.testing.assert_allclose(moved["other"][1], moved["example"][1], atol=1e-9)  # canonical: identical
    expected = np.einsum("l,lkd->kd", lip[0, basis.layout.lip], basis.lip_basis)
    np.testing.assert_allclose(moved["example"][1], expected, atol=1e-9)


# -- semantics ---------------------------------------------------------------------------------
@pytest.mark.parametrize("axis, angle", [(0, 0.3), (0, -0.25), (1, 0.2), (2, 0.35)], ids=["yaw+", "yaw-", "pitch", "roll"])
def test_rotation_gives_the_pose_code(example_mesh, neutral, basis, axis, angle):
    photo = fit(example_mesh, basis, neutral)[0][0]  # pose 0; lips apart (the portrait smiles)
    euler = np.zeros(3)
    euler[axis] = angle
    rot = euler_to_matrix(euler)
    # about the canonical origin (between the outer eye corners): only the angle changes
    origin = neutral.translation
    codes, _ = fit((example_mesh - origin) @ rot.T + origin, basis, neutral)
    expected = photo.copy()
    expected[axis] = angle
    np.testing.assert_allclose(codes[0], expected, atol=1e-9)
    # about the mesh centroid: the same angle, and the origin moves as the rotation predicts
    centroid = example_mesh.mean(axis=0)
    codes, _ = fit((example_mesh - centroid) @ rot.T + centroid, basis, neutral)
    assert codes[0, axis] == pytest.approx(angle, abs=1e-6)
    others = [i for i in range(3) if i != axis]
    np.testing.assert_allclose(codes[0, others], 0.0, atol=1e-6)
    assert codes[0, 5] == pytest.approx(0.0, abs=1e-9)                     # log_scale
    shift = ((rot - np.eye(3)) @ (origin - centroid))[:2] / neutral.scale
    np.testing.assert_allclose(codes[0, 3:5], shift, atol=1e-9)           # tx, ty
    np.testing.assert_allclose(codes[0, 6:], photo[6:], atol=1e-8)        # no shape change


def test_scaling_gives_log_scale(example_mesh, neutral, basis):
    photo = fit(example_mesh, basis, neutral)[0][0]
    centroid = example_mesh.mean(axis=0)
    codes, _ = fit((example_mesh - centroid) * 1.2 + centroid, basis, neutral)
    assert codes[0, 5] == pytest.approx(np.log(1.2), abs=1e-9)
    np.testing.assert_allclose(codes[0, 0:3], 0.0, atol=1e-9)
    np.testing.assert_allclose(codes[0, 3:5], (0.2 * (neutral.translation - centroid))[:2] / neutral.scale, atol=1e-9)
    np.testing.assert_allclose(codes[0, 6:], photo[6:], atol=1e-8)
    # a translation is tx, ty in inter-ocular units
    codes, _ = fit(example_mesh + [neutral.scale * 0.1, -neutral.scale * 0.05, 0.0], basis, neutral)
    np.testing.assert_allclose(codes[0, 3:5], [0.1, -0.05], atol=1e-9)


def test_blink_closes_the_eyes(neutral, basis):
    codes = np.zeros((4, basis.layout.dim))
    codes[1, 6:8] = 1.0          # both closed
    codes[2, 6] = 1.0            # blink_left only
    codes[3, 7] = 1.0            # blink_right only
    meshes = compose(neutral, codes, basis)
    canon = canonicalize(meshes, basis)[0]
    open_n = mcodes.eye_openings(neutral.shape[None])[0]                  # (left, right)
    assert (open_n > 0).all()
    openings = mcodes.eye_openings(canon)
    np.testing.assert_allclose(openings[0], open_n, atol=1e-9)            # blink 0: unchanged
    np.testing.assert_allclose(canon[0], neutral.shape, atol=1e-9)
    assert (openings[1] < 0.25 * open_n).all()
    assert openings[2, 0] < 0.25 * open_n[0] and openings[2, 1] == pytest.approx(open_n[1], abs=1e-9)
    assert openings[3, 1] < 0.25 * open_n[1] and openings[3, 0] == pytest.approx(open_n[0], abs=1e-9)
    # "left" is the subject's left eye, which appears on the image's right
    lid_gap = lambda m, up, lo: m[lo, 1] - m[up, 1]
    left_up, left_lo = topo.LEFT_EYE_LIDS[0]
    assert meshes[2, left_up, 0] > meshes[2, topo.NOSE_TIP, 0]
    assert lid_gap(meshes[2], left_up, left_lo) < 0.25 * lid_gap(meshes[0], left_up, left_lo)


# -- a real clip ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def val_meshes(analyzer, shared_data) -> np.ndarray:
    with open(shared_data / "clips" / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    clip = next(r["id"] for r in rows if r["split"] == "val" and r["id"].startswith("grid_s1"))
    frames = list(itertools.islice(read_video(shared_data / "clips" / f"{clip}.mp4"), 75))
    faces = list(analyzer.track(frames))
    assert len(faces) == 75 and all(face is not None for face in faces), clip
    return np.stack([face.mesh for face in faces]).astype(np.float64)


@pytest.fixture(scope="module")
def val_report(val_meshes, basis) -> dict:
    return reconstruction_error(val_meshes, basis)


def test_real_clip_reconstruction_error(val_report):
    assert set(val_report) == {"lip", "expression", "eyes", "all", "code_roundtrip_max_abs"}
    assert 0 < val_report["lip"] < 1.5
    assert 0 < val_report["expression"] < 1.5
    assert 0 < val_report["eyes"] < 3.0


def test_real_clip_code_roundtrip(val_report):
    assert val_report["code_roundtrip_max_abs"] < 1e-6


def test_real_clip_codes_are_plausible(val_meshes, basis):
    codes, neutral = fit(val_meshes, basis)
    assert codes.shape == (75, basis.layout.dim) and np.isfinite(codes).all()
    assert neutral.scale == pytest.approx(float(np.median(topo.inter_ocular(val_meshes))), rel=0.15)
    # a speaker facing the camera: small head motion, the mouth moves
    assert np.abs(codes[:, 0:3]).max() < 0.35
    assert np.abs(np.median(codes[:, 0:6], axis=0)).max() < 0.05
    assert codes[:, basis.layout.lip].std(axis=0).max() > 0.3


def test_fit_rejects_bad_meshes(basis, example_mesh):
    with pytest.raises(MotionFitError, match=r"meshes must be T×478×3 \(from FaceAnalyzer\), got \(5, 468, 3\)"):
        fit(np.zeros((5, 468, 3)), basis)
    bad = np.repeat(example_mesh[None], 3, axis=0)
    bad[1, 10, 0] = np.nan
    with pytest.raises(MotionFitError, match="NaN or inf"):
        fit(bad, basis)
    bad[1, 10, 0] = np.inf
    with pytest.raises(MotionFitError, match="NaN or inf"):
        canonicalize(bad, basis)
    with pytest.raises(MotionFitError, match=rf"codes must be T×{basis.layout.dim}, got shape \(3, 5\)"):
        compose(estimate_neutral(example_mesh, basis), np.zeros((3, 5)), basis)


# -- persistence ---------------------------------------------------------------------------------
_ARRAYS = ("mean_shape", "stable", "lip_region", "expression_region", "eye_region",
           "expression_basis", "lip_basis", "blink_basis", "code_mean", "code_std")


def test_basis_save_load_round_trip(basis, tmp_path):
    assert basis.layout.dim == 28 and basis.layout.names[:6] == ("yaw", "pitch", "roll", "tx", "ty", "log_scale")
    folder = basis.save(tmp_path / "motion")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "motion.safetensors"]
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["format_version"] == 1 and config["code_names"] == list(basis.layout.names)
    loaded = MotionBasis.load(folder)
    for name in _ARRAYS:
        a, b = getattr(basis, name), getattr(loaded, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b), name
    assert loaded.info == basis.info
    assert loaded.layout == basis.layout


def test_basis_load_errors(basis, tmp_path):
    folder = basis.save(tmp_path / "motion")
    weights = folder / "motion.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"motion\.safetensors is not a readable safetensors file"):
        MotionBasis.load(folder)

    config = folder / "config.json"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('"format_version": 1', '"format_version": 99'), encoding="utf-8")
    with pytest.raises(BundleError, match=r"format_version 99.*upgrade talkinghead"):
        MotionBasis.load(folder)
    config.write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match=r"config\.json is not valid JSON"):
        MotionBasis.load(folder)
    config.unlink()
    with pytest.raises(BundleError, match=r"config\.json is missing"):
        MotionBasis.load(folder)


# -- fitting a basis -----------------------------------------------------------------------------
def _generating_basis(basis: MotionBasis, shape: np.ndarray) -> MotionBasis:
    """The bundled basis restricted to the regions motion/fitting.py derives on `shape`, so the
    synthetic data satisfy the model's assumptions: expression leaves the stable points and
    the mouth alone, lip stays in the mouth/jaw region, blink leaves the eye corners."""
    gen = copy.deepcopy(basis)
    gen.expression_basis[:, ~(regions.expression_mask(shape) & ~regions.stable_mask(shape))] = 0
    gen.expression_basis[:, basis.stable] = 0
    gen.lip_basis[:, ~regions.lip_mask(shape)] = 0
    for eye, corners in enumerate((topo.LEFT_EYE_CORNERS, topo.RIGHT_EYE_CORNERS)):
        gen.blink_basis[eye, list(corners)] = 0
    return gen


@pytest.fixture(scope="module")
def synthetic_fit(neutral, basis):
    gen = _generating_basis(basis, neutral.shape)
    rng = np.random.default_rng(1)
    sequences, identities = [], []
    for k in range(3):
        shape = neutral.shape.copy()
        shape[:topo.NUM_MESH] += rng.normal(0.0, 0.01, size=(topo.NUM_MESH, 3))   # another face
        person = estimate_neutral(compose(Neutral(shape, neutral.scale, neutral.rotation, neutral.translation),
                                          np.zeros((1, gen.layout.dim)), gen), gen)
        person = Neutral(person.shape, person.scale * (1 + 0.1 * k), person.rotation,
                         person.translation + 5.0 * k)
        codes = rng.standard_normal((100, gen.layout.dim)) * gen.code_std
        codes[:, 6:8] = np.clip(rng.uniform(-0.2, 1.0, size=(100, 2)), 0.0, None)   # blinks
        sequences.append(compose(person, codes, gen))
        identities.append(f"person{k}")
    fitted = fit_basis(sequences, identities, info={"fitted_on": "synthetic"})
    return gen, fitted, sequences


def test_fit_basis_structure(synthetic_fit):
    _, fitted, _ = synthetic_fit
    assert fitted.layout.num_expression == 8 and fitted.layout.num_lip == 10
    assert fitted.info == {"fitted_on": "synthetic", "frames_used": 300, "clips_used": 3, "identities": 3}
    assert topo.inter_ocular(fitted.mean_shape) == pytest.approx(1.0, abs=1e-9)
    assert not (fitted.lip_region & fitted.expression_region).any()
    assert np.abs(fitted.expression_basis[:, fitted.stable]).max() == 0
    assert np.abs(fitted.lip_basis[:, ~fitted.lip_region]).max() == 0
    for eye, corners in enumerate((topo.LEFT_EYE_CORNERS, topo.RIGHT_EYE_CORNERS)):
        assert np.abs(fitted.blink_basis[eye, list(corners)]).max() == 0


def test_fit_basis_codes_have_unit_rms(synthetic_fit):
    # codes are not centred (0 is the neutral), so the contract is unit RMS, not unit std
    _, fitted, _ = synthetic_fit
    lay = fitted.layout
    rms = np.sqrt(fitted.code_std ** 2 + fitted.code_mean ** 2)
    np.testing.assert_allclose(rms[lay.expression], 1.0, atol=0.05)
    np.testing.assert_allclose(rms[lay.lip], 1.0, atol=0.05)


def _span_retention(generating: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Per generating component, the fraction of its norm inside the fitted components' span."""
    g = generating.reshape(len(generating), -1)
    q, _ = np.linalg.qr(fitted.reshape(len(fitted), -1).T)
    return np.linalg.norm(g @ q, axis=1) / np.linalg.norm(g, axis=1)


def test_fit_basis_recovers_the_subspaces(synthetic_fit):
    gen, fitted, _ = synthetic_fit
    lip = _span_retention(gen.lip_basis, fitted.lip_basis)
    assert lip.min() > 0.95, np.round(lip, 3)
    expression = _span_retention(gen.expression_basis, fitted.expression_basis)
    assert expression.min() > 0.9, np.round(expression, 3)


def test_fitted_basis_compose_fit_is_exact(synthetic_fit, neutral):
    _, fitted, sequences = synthetic_fit
    person = estimate_neutral(sequences[0], fitted)
    codes = _random_codes(fitted, 8, seed=5)
    back, _ = fit(compose(person, codes, fitted), fitted, person)
    assert np.abs(back - codes).max() < 1e-8


def test_open_lips_of_a_photo_are_closed_in_its_neutral(neutral, basis):
    from talkinghead.motion.codes import REST_GAP, REST_OPENING, mouth_opening

    iod = topo.inter_ocular(neutral.shape)
    assert mouth_opening(neutral.shape[None])[0] / iod <= REST_OPENING  # closed by estimate_neutral
    codes = np.zeros((1, basis.layout.dim))
    codes[0, basis.layout.lip] = np.linspace(-3.0, 1.0, basis.layout.num_lip)  # lip0 < 0 opens the mouth
    photo = compose(neutral, codes, basis)              # the same face, lips apart
    assert mouth_opening(canonicalize(photo, basis)[0])[0] / iod > 0.05
    opened = estimate_neutral(photo, basis)
    gap = mouth_opening(opened.shape[None])[0] / topo.inter_ocular(opened.shape)
    assert gap == pytest.approx(REST_GAP, abs=1e-4)
    # a neutral that is already closed is left as it is
    again = estimate_neutral(compose(neutral, np.zeros((1, basis.layout.dim)), basis), basis)
    np.testing.assert_allclose(again.shape, neutral.shape, atol=1e-6)
