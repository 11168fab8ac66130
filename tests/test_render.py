"""Renderer: thin-plate flow, warp, eyes/mouth, paste-back, refinement net, training, eval."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from talkinghead.errors import MotionFitError
from talkinghead.face import topology as topo
from talkinghead.kernels.resample import remap_bilinear
from talkinghead.render import RefineNet, Renderer, RenderInputError, make_avatar
from talkinghead.render.flow import TpsFlow
from talkinghead.render.paste import PastePlan
from talkinghead.render.refine_runtime import RefineRuntime
from talkinghead.render.regions import fill_mouth
from talkinghead.render.renderer import net_input
from talkinghead.training.render import mirror, train_render

SIZE = 256


@pytest.fixture(scope="module")
def crop_mesh(example_face):
    """478×2 mesh of the example portrait in its own 256 crop."""
    avatar = make_avatar(np.zeros((512, 512, 3), np.uint8), example_face.mesh, SIZE, paste=False)
    return avatar.crop_mesh


def checkerboard(size: int, cell: int = 16) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    board = (((x // cell) + (y // cell)) % 2 * 200 + 30).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def test_flow_is_identity_when_target_is_source(crop_mesh):
    flow = TpsFlow(crop_mesh, SIZE)
    coords = flow(crop_mesh)
    assert coords.shape == (SIZE, SIZE, 2)
    np.testing.assert_allclose(coords, flow.pixels, atol=1e-3)


def test_affine_mesh_warps_checkerboard_like_the_analytic_map(crop_mesh):
    a = np.array([[1.06, -0.08], [0.05, 0.97]])
    b = np.array([6.0, -4.0])
    target = crop_mesh @ a.T + b
    flow = TpsFlow(crop_mesh, SIZE, use_anchors=False)  # a pure spline reproduces affine maps exactly
    coords = flow(target)
    analytic = (flow.pixels - b) @ np.linalg.inv(a).T  # backward map of the affine
    inner = slice(24, SIZE - 24)  # the coarse grid's outer half-cell is clamped
    np.testing.assert_allclose(coords[inner, inner], analytic[inner, inner], atol=0.02)
    board = checkerboard(SIZE)
    warped = remap_bilinear(board, coords)
    expected = remap_bilinear(board, analytic.astype(np.float32))
    diff = np.abs(warped[inner, inner].astype(int) - expected[inner, inner])
    assert diff.max() <= 4 and diff.mean() < 0.05


def test_anchors_keep_the_crop_border_still(crop_mesh):
    flow = TpsFlow(crop_mesh, SIZE)
    target = crop_mesh + [5.0, 3.0]  # the whole face moves
    coords = flow(target)
    moved = np.linalg.norm(coords - flow.pixels, axis=-1)
    assert moved[:3].max() < 0.5 and moved[:, -3:].max() < 0.5
    centre = crop_mesh[topo.NOSE_TIP].round().astype(int)
    assert abs(moved[centre[1], centre[0]] - np.hypot(5, 3)) < 0.5


def test_paste_back_keeps_pixels_outside_the_mask_bit_exact():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)
    c, s, k = np.cos(0.3), np.sin(0.3), SIZE / 180
    matrix = np.array([[k * c, k * s, 0], [-k * s, k * c, 0]])
    matrix[:, 2] = [SIZE / 2, SIZE / 2] - matrix[:, :2] @ [200, 150]
    plan = PastePlan(image.shape, matrix, SIZE)
    rendered = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    out = plan(image, rendered, rendered)
    x0, y0, x1, y1 = plan.box
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = plan.weight[..., 0] == 0
    assert outside.sum() > 10000 and (~outside).sum() > 10000
    np.testing.assert_array_equal(out[outside], image[outside])
    assert np.any(out[~outside] != image[~outside])


def test_renderer_keeps_the_photo_for_the_source_mesh(example_image, example_face):
    renderer = Renderer(None, SIZE)
    avatar = renderer.prepare(example_image, face=example_face)
    frame = renderer.render(avatar, example_face.mesh)
    assert frame.shape == example_image.shape and frame.dtype == np.uint8
    assert np.abs(frame.astype(int) - example_image).mean() < 1.0


def test_open_mouth_blink_and_gaze_change_their_regions(example_image, example_face):
    renderer = Renderer(None, SIZE)
    avatar = renderer.prepare(example_image, face=example_face)
    source = avatar.crop_mesh
    target = source.copy()
    gap = (source[13, 1] + source[14, 1]) / 2  # between the inner lips
    lower = [i for i in range(topo.NUM_MESH) if source[i, 1] > gap and abs(source[i, 0] - source[14, 0]) < 60]
    target[lower, 1] += 12  # the jaw drops
    for up, lo in topo.RIGHT_EYE_LIDS:  # the right eye closes
        target[up, 1] = target[lo, 1] = (source[up, 1] + source[lo, 1]) / 2
    target[list(topo.LEFT_IRIS), 0] += 3  # the left iris looks aside
    warped = renderer.warp(avatar, target)
    assert warped.eyes.max() > 0.9
    assert np.isfinite(warped.coords).all()
    # the portrait smiles with its teeth showing: the warp carries its own mouth, nothing is painted
    assert warped.mouth.max() == 0


def test_a_closed_mouth_that_opens_gets_a_dark_cavity(example_image, example_face):
    avatar = Renderer(None, SIZE).prepare(example_image, face=example_face)
    closed = avatar.crop_mesh.copy()
    for up, lo in topo.INNER_LIP_PAIRS:  # the lips meet
        closed[up, 1] = closed[lo, 1] = (closed[up, 1] + closed[lo, 1]) / 2
    target = closed.copy()
    gap = closed[13, 1]
    lower = [i for i in range(topo.NUM_MESH) if closed[i, 1] > gap and abs(closed[i, 0] - closed[14, 0]) < 60]
    target[lower, 1] += 12  # the jaw drops
    for up, lo in topo.INNER_LIP_PAIRS:
        target[lo, 1] = closed[lo, 1] + 12
    crop = avatar.crop.copy()
    alpha = fill_mouth(crop, closed, target, avatar.lip_colour, avatar.teeth_colour)
    assert alpha.max() > 0.9
    mouth = alpha > 0.5
    assert crop[mouth].mean() < avatar.crop[mouth].mean() - 20  # a dark cavity appeared


def test_bad_target_meshes_raise_typed_errors(example_image, example_face):
    renderer = Renderer(None, SIZE)
    avatar = renderer.prepare(example_image, face=example_face)
    bad = example_face.mesh.copy()
    bad[5, 0] = np.nan
    with pytest.raises(MotionFitError):
        renderer.render(avatar, bad)
    with pytest.raises(MotionFitError):
        renderer.render(avatar, example_face.mesh[:100])
    with pytest.raises(RenderInputError):
        renderer.render(avatar, example_face.mesh * 4)
    with pytest.raises(RenderInputError):
        renderer.render(avatar, example_face.mesh + [900, 0, 0])


def test_extreme_pose_degrades_without_holes(example_image, example_face):
    renderer = Renderer(None, SIZE)
    avatar = renderer.prepare(example_image, face=example_face)
    mesh = example_face.mesh.astype(np.float64).copy()
    centre = mesh[:, :2].mean(0)
    mesh[:, 0] = centre[0] + (mesh[:, 0] - centre[0]) * 0.55 + 60  # strong turn and shift
    warped = renderer.warp(avatar, renderer.target_in_crop(avatar, mesh))
    assert np.isfinite(warped.coords).all()
    assert warped.coords.min() >= 0 and warped.coords.max() <= SIZE - 1  # clamped: no wrap-around
    dark = lambda crop: np.mean(crop.max(-1) < 12)
    assert dark(warped.crop) <= dark(avatar.crop) + np.mean(warped.mouth > 0) + 0.002  # no black holes


def test_tiny_refine_net_forward_backward_is_seeded():
    torch.manual_seed(0)
    net = RefineNet(size=32, widths=(4, 8, 8, 8))
    x = torch.rand(2, 10, 32, 32, generator=torch.Generator().manual_seed(1))
    out = net(x)
    assert out.shape == (2, 3, 32, 32) and torch.count_nonzero(out) == 0  # starts as the identity
    (out - 0.1).abs().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    assert net.head.weight.grad.abs().sum() > 0
    torch.manual_seed(0)
    again = RefineNet(size=32, widths=(4, 8, 8, 8))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    net = RefineNet(size=32, widths=(4, 8, 8, 8))
    torch.nn.init.normal_(net.head.weight, std=0.1)
    net.save(tmp_path, info={"steps": 3})
    loaded = RefineNet.load(tmp_path)
    assert loaded.config == net.config and loaded.info == {"steps": 3}
    for k, v in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v.half().float())


# A backends-style runtime in plain numpy (residual: half the source crop minus the warp), as
# source: the torch-free process below runs the same definition.
SHIFT_RUNTIME = """
def shift_runtime(x):
    return {"residual": 0.5 * (x[:, 3:6] - x[:, :3])}
"""


def test_a_refine_net_is_run_as_a_refine_runtime():
    net = RefineNet(size=32, widths=(4, 8, 8, 8))
    renderer = Renderer(net, SIZE)
    assert isinstance(renderer.refine, RefineRuntime) and renderer.refine.backend == "torch"
    assert renderer.refine.size == 32 and renderer.refine.eval() is renderer.refine
    x = np.random.default_rng(0).random((1, 10, 32, 32), dtype=np.float32)
    residual = renderer.refine(x)
    assert residual.shape == (1, 3, 32, 32) and residual.dtype == np.float32 and not residual.any()


def test_the_renderer_runs_without_torch(tmp_path, example_image, example_face):
    """In a process where torch cannot be imported: the renderer, a numpy refinement runtime and
    the C++ kernels draw the same frame as here."""
    from talkinghead.demo import example_portrait

    mesh = example_face.mesh.copy()
    mesh[:, :2] += [3.0, -2.0]
    np.save(tmp_path / "face.npy", example_face.mesh)
    np.save(tmp_path / "target.npy", mesh)
    script = textwrap.dedent("""
        import sys
        from types import SimpleNamespace

        import numpy as np
        from talkinghead.render.refine_runtime import RefineRuntime
        from talkinghead.render.renderer import Renderer

        portrait, folder, size, runtime = sys.argv[1:]
        exec(runtime)
        renderer = Renderer(RefineRuntime(shift_runtime, 128, "numpy"), int(size))
        avatar = renderer.prepare(portrait, face=SimpleNamespace(mesh=np.load(folder + "/face.npy")))
        np.save(folder + "/frame.npy", renderer.render(avatar, np.load(folder + "/target.npy")))
        assert "torch" not in sys.modules, "torch was imported"
    """)
    no_torch = Path(__file__).with_name("no_torch.py")  # refuses `torch` through a sys.meta_path finder
    result = subprocess.run([sys.executable, str(no_torch), "-c", script, str(example_portrait()), str(tmp_path),
                             str(SIZE), SHIFT_RUNTIME], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    namespace = {}
    exec(SHIFT_RUNTIME, namespace)
    renderer = Renderer(RefineRuntime(namespace["shift_runtime"], 128, "numpy"), SIZE)
    avatar = renderer.prepare(example_image, face=example_face)
    expected = renderer.render(avatar, mesh)
    assert not np.array_equal(expected, Renderer(None, SIZE).render(avatar, mesh))  # the refinement ran
    np.testing.assert_array_equal(np.load(tmp_path / "frame.npy"), expected)


def _synthetic_frames(folder, crop_mesh, clips=2, k=3):
    """A tiny training set in the layout `build_frames` writes: shifted example crops + meshes."""
    folder.mkdir(parents=True)
    frames = np.zeros((clips, k, SIZE, SIZE, 3), np.uint8)
    meshes = np.zeros((clips, k, topo.NUM_POINTS, 2), np.float32)
    board = checkerboard(SIZE)
    for c in range(clips):
        for n in range(k):
            shift = np.array([n * 2.0, c * 1.0])
            frames[c, n] = np.roll(board, (int(shift[1]), int(shift[0])), axis=(0, 1))
            meshes[c, n] = crop_mesh + shift
    np.save(folder / "frames.npy", frames)
    np.save(folder / "meshes.npy", meshes)
    (folder / "clips.json").write_text(json.dumps({"clips": ["a", "b"], "size": SIZE, "frames_per_clip": k,
                                                   "sources": ["synthetic"], "licences": ["CC0"]}))


def test_mirrored_net_input_is_the_input_of_the_mirrored_pair(crop_mesh):
    """The flip augmentation: mirror(x) must be what the renderer gives for the mirrored source
    crop and meshes (x -> S-1-x), so a flipped training pair is a real pair."""
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    crop = (np.random.default_rng(0).random((SIZE, SIZE, 3)) * 255).astype(np.uint8)
    target = crop_mesh.copy()
    target[:, 0] += 3 * np.sin(crop_mesh[:, 1] / 30)  # lips, lids and cheeks all move
    target[list(topo.LIPS_INNER[1:10]), 1] += 6  # the mouth opens: the fill is drawn
    renderer = Renderer(None, SIZE)

    def planes(crop, source, target):
        avatar = make_avatar(crop, np.pad(source, ((0, 0), (0, 1))), SIZE, matrix=identity, paste=False)
        return torch.from_numpy(net_input(renderer.warp(avatar, target), avatar.crop, SIZE)[0])  # 10×S×S

    def flip_x(mesh):
        return np.stack([SIZE - 1 - mesh[:, 0], mesh[:, 1]], 1)

    x = planes(crop, crop_mesh, target)
    mirrored = planes(np.ascontiguousarray(crop[:, ::-1]), flip_x(crop_mesh), flip_x(target))
    torch.testing.assert_close(mirror(x), mirrored, atol=1 / 255 + 1e-6, rtol=0)
    assert (mirror(x) - mirrored).abs().mean() < 1e-4
    torch.testing.assert_close(mirror(mirror(x)), x)


def test_train_three_steps_and_resume(tmp_path, crop_mesh):
    frames = tmp_path / "frames"
    _synthetic_frames(frames, crop_mesh)
    out = tmp_path / "run"
    summary = train_render(None, out, steps=3, save_every=2, frames_dir=frames, widths=(4, 8, 8, 8),
                           landmark_weight=0.03, perceptual_weight=0.1)  # the mesh-network terms run too
    assert summary["steps"] == 3 and np.isfinite(summary["loss_last"])
    assert (out / "loss.png").is_file() and (out / "checkpoint.pt").is_file()
    net = RefineNet.load(out)
    assert net.info["steps"] == 3 and net.info["licences"] == ["CC0"]
    assert net.widths == (4, 8, 8, 8) and net.window == 176  # the default window: 11/16 of the 256 side
    summary = train_render(None, out, steps=4, frames_dir=frames, widths=(4, 8, 8, 8))  # resumes at 3
    assert summary["steps"] == 4 and RefineNet.load(out).info["steps"] == 4
    history = json.loads((out / "log.json").read_text())
    assert [s for s, _ in history["train"]] == [1, 2, 3, 4] == [s for s, _ in history["warp_only"]]


def test_eval_writes_a_report(tmp_path, example_image, analyzer):
    """A one-clip val 'cache' made from shifted copies of the example portrait."""
    from talkinghead.media import VideoWriter
    from talkinghead.evaluation.render import evaluate_render

    frames, meshes = [], []
    for t in range(10):
        m = np.float32([[1, 0, 2 * np.sin(t)], [0, 1, t % 3]])
        frame = cv2.warpAffine(example_image, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
        frames.append(frame)
        meshes.append(analyzer.analyze(frame).mesh)
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, 512, 512, crf=10) as writer:
        writer.write_many(frames)
    (tmp_path / "cache" / "clips").mkdir(parents=True)
    meta = {"id": "clip", "video": str(video), "split": "val", "licence": "public domain", "source": "test"}
    np.savez(tmp_path / "cache" / "clips" / "clip.npz", mesh=np.stack(meshes), valid=np.ones(10, bool),
             meta=json.dumps(meta))
    torch.manual_seed(0)
    renderer = Renderer(RefineNet(size=SIZE, widths=(4, 8, 8, 8)), SIZE)
    report = evaluate_render(tmp_path / "cache", renderer, split="val", out=tmp_path / "report",
                             analyzer=analyzer)
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["clips"] == 1 and saved["pairs"] == 4 and report["metrics"] == saved["metrics"]
    assert set(saved["metrics"]) == {"unchanged", "warp", "refined"}
    for row in saved["metrics"].values():
        assert all(np.isfinite(v) for v in row.values())
    # a fresh net's head is zero: refinement adds nothing, so its row is the warp's exactly
    assert saved["metrics"]["refined"] == saved["metrics"]["warp"]
    assert saved["metrics"]["warp"]["psnr"] > saved["metrics"]["unchanged"]["psnr"]
    assert (tmp_path / "report" / "contact_sheet.png").is_file()
    # the portrait's lips are parted: every pair is measured inside the mouth, and the zero-head
    # refinement shows what the warp shows
    interior = saved["mouth_interior"]
    assert interior["open_pairs"] == 4 and interior["real"]["luma_std"] > 0
    assert {k: interior["refined"][k] for k in ("luma_std", "teeth_fraction")} == \
        {k: interior["warp"][k] for k in ("luma_std", "teeth_fraction")}


@pytest.mark.parametrize("widths, message", [("4,x", "got '4,x'"), ("8,0", "positive integers")])
def test_train_render_refuses_bad_widths(widths, message, capsys):
    from talkinghead.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "render", "--data", "d", "--out", "o", "--widths", widths])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_render_codes_cli_writes_a_video(tmp_path, basis):
    """Cross-identity reenactment through the CLI, with a bundle holding a tiny render net."""
    import shutil

    from talkinghead import bundle
    from talkinghead.cli import main
    from talkinghead.demo import example_portrait
    from talkinghead.media import video_info

    folder = tmp_path / "bundle"
    shutil.copytree(bundle.component_dir("motion"), folder / "motion")
    RefineNet(size=SIZE, widths=(4, 8, 8, 8)).save(folder / "render")
    bundle.write_manifest(folder)
    codes = np.zeros((5, basis.layout.dim), np.float32)
    codes[:, basis.layout.lip.start] = np.linspace(0, 2, 5)
    codes[2, 0] = np.nan  # a lost frame holds the previous codes
    np.savez(tmp_path / "clip.npz", codes=codes, meta=json.dumps({"id": "x", "audio": str(tmp_path / "none.flac")}))
    out = tmp_path / "out.mp4"
    with pytest.warns(UserWarning, match="silent"):
        rc = main(["render-codes", str(example_portrait()), str(tmp_path / "clip.npz"), "--out", str(out),
                   "--crop-size", "256", "--bundle", str(folder)])
    assert rc == 0 and video_info(out).num_frames == 5


def test_the_net_runs_on_its_window_around_mouth_and_eyes(example_image, example_face):
    """A net with a window is given only that square of its input, centred on the gate; the crop
    it draws is the full-input net's within a level, and the warp's exactly outside the window."""
    from talkinghead.render.renderer import GATE_FLOOR, refine_gate, refine_window

    torch.manual_seed(0)
    full = RefineNet(size=64, widths=(4, 8, 8, 8))
    torch.nn.init.normal_(full.head.weight, std=0.05)
    windowed = RefineNet(size=64, widths=(4, 8, 8, 8), window=48)
    windowed.load_state_dict(full.state_dict())
    seen = []
    renderers = {}
    for name, net in (("full", full), ("windowed", windowed)):
        renderers[name] = Renderer(net, SIZE)
        runtime = renderers[name].refine.runtime
        renderers[name].refine.runtime = lambda x, runtime=runtime: seen.append(x.shape) or runtime(x=x)
    avatar = renderers["full"].prepare(example_image, face=example_face)
    mesh = example_face.mesh.copy()
    mesh[:, :2] += [3.0, -2.0]
    warped = renderers["full"].warp(avatar, renderers["full"].target_in_crop(avatar, mesh))
    crops = {name: r.refine_crop(avatar, warped) for name, r in renderers.items()}
    assert seen == [(1, 10, 64, 64), (1, 10, 48, 48)]
    assert not np.array_equal(crops["full"], warped.crop)  # the net changes the crop
    assert np.abs(crops["windowed"].astype(int) - crops["full"]).max() <= 1

    gate = refine_gate(warped.target, SIZE, 64)
    y0, x0 = refine_window(gate, 48)
    ys, xs = np.nonzero(gate > GATE_FLOOR)
    assert 0 <= y0 <= ys.min() and ys.max() < y0 + 48 and 0 <= x0 <= xs.min() and xs.max() < x0 + 48
    scale = SIZE // 64
    outside = np.ones((SIZE, SIZE), bool)
    outside[(y0 + 1) * scale:(y0 + 47) * scale, (x0 + 1) * scale:(x0 + 47) * scale] = False
    np.testing.assert_array_equal(crops["windowed"][outside], warped.crop[outside])


@pytest.mark.parametrize("window", [0, 44, 72])
def test_a_window_the_net_cannot_run_on_is_refused(window):
    with pytest.raises(ValueError, match=f"window {window}"):
        RefineNet(size=64, widths=(4, 8, 8, 8), window=window)


def _warped(rng, size):
    from talkinghead.render.renderer import Warped

    xs = np.arange(size, dtype=np.float32)
    coords = np.stack(np.meshgrid(xs, xs), -1) + rng.normal(0, 3, (size, size, 2)).astype(np.float32)
    masks = rng.random((2, size, size)).astype(np.float32)
    return Warped(rng.integers(0, 256, (size, size, 3), np.uint8), coords, masks[0], masks[1],
                  np.zeros((topo.NUM_POINTS, 2), np.float32))


@pytest.mark.parametrize("crop, net, window", [(256, 128, (10, 37, 48)), (256, 256, (0, 208, 48)),
                                               (256, 96, (40, 8, 48)), (512, 256, (79, 0, 176))])
def test_a_windowed_net_input_is_that_part_of_the_whole_input(crop, net, window):
    """The window's input equals the same slice of the input built from whole planes (which a
    crop side that is a whole multiple of the net's side builds from that part alone)."""
    from talkinghead.render.renderer import FLOW_SCALE

    rng = np.random.default_rng(crop + net)
    warped, source = _warped(rng, crop), rng.integers(0, 256, (crop, crop, 3), np.uint8)
    xs = np.arange(crop, dtype=np.float32)
    flow = (warped.coords - np.stack(np.meshgrid(xs, xs), -1)) * (FLOW_SCALE / crop)
    planes = np.concatenate([warped.crop / 255, source / 255, flow, warped.mouth[..., None],
                             warped.eyes[..., None]], -1).astype(np.float32)  # the definition, S×S×10
    whole = np.concatenate([cv2.resize(planes[..., c:c + 4], (net, net), interpolation=cv2.INTER_AREA)
                            for c in (0, 4, 8)], -1).transpose(2, 0, 1)[None]  # cv2 area-resizes ≤ 4 channels
    np.testing.assert_allclose(net_input(warped, source, net), whole, atol=1e-6)
    y0, x0, w = window
    part = net_input(warped, source, net, window)
    assert part.shape == (1, 10, w, w) and part.flags.c_contiguous
    np.testing.assert_allclose(part, whole[:, :, y0:y0 + w, x0:x0 + w], atol=1e-6)


@pytest.mark.parametrize("crop, net, origin", [(512, 256, (40, 41)), (512, 256, (0, 80)), (256, 256, (80, 3)),
                                               (256, 96, (10, 48))])
def test_the_window_residual_is_added_as_the_full_pass_adds_it(crop, net, origin):
    """Adding the window's residual touches only the window's part of the crop and gives, bit
    for bit, what the full pass gives with the residual zero outside the window."""
    from talkinghead.kernels.warp_composite import add_gated_residual
    from talkinghead.render.renderer import add_window_residual

    rng = np.random.default_rng(crop + origin[0])
    w = 48 if net == 96 else 176
    frame = rng.integers(0, 256, (crop, crop, 3), np.uint8)
    residual = rng.normal(0, 0.2, (3, w, w)).astype(np.float32)
    gate = rng.random((net, net)).astype(np.float32)
    (y0, x0) = origin
    full = np.zeros((3, net, net), np.float32)
    full[:, y0:y0 + w, x0:x0 + w] = residual
    expected = add_gated_residual(frame, full, gate, 2)
    out = add_window_residual(frame, residual, gate, origin, 2)
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out, frame)
