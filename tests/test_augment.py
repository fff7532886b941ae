"""data.augment: each operation does what it says on whole batches, only training batches change, a resumed run
draws what it would have, the report shows the grid, and what makes no sense is refused or warned."""

from __future__ import annotations

import copy

import pytest
import torch

import dlpipe
from dlpipe.engine.augment import Augmenter
from dlpipe.engine.checkpoint import TrainingState
from dlpipe.engine.train import fit
from dlpipe.language.pipeline import Training
from dlpipe.language.source import Augment
from dlpipe.archive.log import Progress
from dlpipe.data.dataset import DataInfo, Dataset, Samples

from conftest import TOY_CLASSIFIER


def dots(n: int = 256, size: int = 12) -> torch.Tensor:
    x = torch.zeros(n, 1, size, size)
    x[:, 0, 5, 5] = 1.0  # one lit pixel in every image
    return x


def test_a_shift_moves_every_pixel_whole_and_never_further_than_asked():
    moved = Augmenter(Augment(shift=2), seed=1)(dots())
    places = torch.nonzero(moved[:, 0] == 1.0)[:, 1:] - 5
    assert len(places) == 256 and places.abs().max() <= 2 and len(torch.unique(places, dim=0)) == 25  # all 5x5
    assert torch.equal(moved.sum(dim=(1, 2, 3)), torch.ones(256))  # moved, not blurred


def test_a_flip_mirrors_about_half_and_erase_blanks_the_share_asked():
    x = torch.arange(12.0).repeat(256, 1, 12, 1)  # each row 0..11, left to right
    flipped = Augmenter(Augment(flip="horizontal"), seed=2)(x)
    mirrored = (flipped[:, 0, 0, 0] == 11).float().mean()
    assert 0.4 < mirrored < 0.6 and torch.equal(flipped[flipped[:, 0, 0, 0] == 11], x[:1].flip(-1).expand(
        int(mirrored * 256), -1, -1, -1))
    erased = Augmenter(Augment(erase=0.25), seed=3)(torch.ones(1000, 1, 12, 12))
    touched = (erased == 0).flatten(1).any(1).float().mean()
    assert 0.2 < touched < 0.3
    share = (erased == 0).flatten(1).float().mean(1)[(erased == 0).flatten(1).any(1)]
    assert share.min() > 0 and share.max() <= 0.34  # 2-33 % of the image (whole pixels)


def test_noise_and_fill_are_in_pixel_units_whatever_the_normalization():
    mean, std = (0.1307,), (0.3081,)  # MNIST's
    noisy = Augmenter(Augment(noise=0.1), seed=4, mean=mean, std=std)(torch.zeros(64, 1, 28, 28))
    assert noisy.std().item() * std[0] == pytest.approx(0.1, rel=0.05)  # 0.1 of the 0..1 pixel range
    shifted = Augmenter(Augment(shift=3), seed=5, mean=mean, std=std)(torch.full((64, 1, 28, 28), 2.0))
    black = -mean[0] / std[0]
    values = torch.unique(shifted)
    assert len(values) == 2 and values[0].item() == pytest.approx(black) and values[1].item() == 2.0  # black came in


def test_the_draws_of_a_batch_depend_on_its_place_alone_so_a_resumed_run_repeats_them():
    config, x = Augment(shift=2, rotate=15, erase=0.5, noise=0.05, flip="horizontal"), torch.randn(32, 1, 12, 12)
    counted = Augmenter(config, seed=7)
    first = [counted(x) for _ in range(5)]
    assert torch.equal(Augmenter(config, seed=7).at(3)(x), first[3]) and not torch.equal(first[3], first[2])


def test_training_with_augmentation_resumes_exactly(tmp_path):
    """Two epochs straight, or one and then one more from the state (a new augmenter, as a resumed process has):
    the same weights."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 1, 12, 12, generator=generator), torch.randint(0, 3, (96,), generator=generator)
    data = Dataset(DataInfo("classification", (1, 12, 12), 3), Samples(x[:64], y[:64]), Samples(x[64:80], y[64:80]),
                   Samples(x[80:], y[80:]))
    training = Training(epochs=2, batch_size=16)
    config = Augment(shift=2, erase=0.3, flip="vertical")

    def trained(model, optimizer, state, epochs, batches):
        return fit(model, data, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer,
                   training=training.model_copy(update={"epochs": epochs}), metrics=[], generator=batches,
                   progress=Progress(quiet=True), state=state, augment=Augmenter(config, seed=11))[0]

    torch.manual_seed(1)
    start = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 3))
    straight = copy.deepcopy(start)
    trained(straight, torch.optim.SGD(straight.parameters(), lr=0.1), None, 2, torch.Generator().manual_seed(5))
    halves, batches = copy.deepcopy(start), torch.Generator().manual_seed(5)
    optimizer = torch.optim.SGD(halves.parameters(), lr=0.1)
    state = trained(halves, optimizer, None, 1, batches)
    assert isinstance(state, TrainingState) and state.epoch == 1
    trained(halves, optimizer, state, 2, batches)
    for a, b in zip(straight.parameters(), halves.parameters()):
        assert torch.equal(a, b)


def test_a_run_augments_training_only_and_shows_the_grid(tmp_path, toy_mnist):
    (tmp_path / "toy.yaml").write_text(TOY_CLASSIFIER.format(root=toy_mnist[0]))
    run = dlpipe.run(tmp_path / "toy.yaml", set={"training.epochs": 1, "data.augment": {"shift": 2, "erase": 0.2}},
                     out=tmp_path / "out", quiet=True)
    assert run.status == "completed"
    page = run.report_path.read_text()
    assert "Augmentation (training batches only)" in page and page.count("the same image augmented") == 12
    assert "a shift of up to 2 pixels each way, a blanked rectangle in 20 % of the images" in page
    from dlpipe.data.sources import load_data

    model = dlpipe.load(run.path)  # the test split itself was never changed: the saved model scores it the same
    data = load_data(model.pipeline.data, model.pipeline.seed)
    accuracy = (model.outputs(data.test.x).argmax(1) == data.test.y).float().mean().item()
    assert accuracy == pytest.approx(run.metrics["test_accuracy"], abs=1e-6)


def test_a_flip_of_digits_is_a_warned_pitfall(cli, tmp_path, toy_mnist):
    (tmp_path / "toy.yaml").write_text(TOY_CLASSIFIER.format(root=toy_mnist[0]))
    done = cli("validate", tmp_path / "toy.yaml", "--set", "data.augment={flip: horizontal}")
    assert done.exit_code == 0 and "warning: data.augment.flip: a horizontal flip of digits" in done.stderr
    quiet = cli("validate", tmp_path / "toy.yaml", "--set", "data.augment={shift: 2, rotate: 10}")
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr
