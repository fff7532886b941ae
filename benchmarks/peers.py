"""The frameworks a user would pick instead of dlpipe, training the shipped pipelines' models.

    python benchmarks/peers.py lightning|keras mnist_mlp|mnist_cnn|mnist_fast|sine [EPOCHS]

Same data (dlpipe's loader: the same split, seed and normalisation), model, optimizer, schedule,
epochs and batch size as pipelines/mnist.yaml, mnist_cnn.yaml, mnist_fast.yaml and sine.yaml; validation after
every epoch; the test split at the end. Each peer is used the way its documentation
recommends for speed on CPU (the choices measured to help are in the issue and below);
neither is handicapped. Prints one JSON line, as benchmarks/loops.py does: the time at the
end of each epoch (after its validation), the training-set size and the test metric.
Needs `pip install -e '.[bench]'` (lightning, keras); dlpipe itself never imports either.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

# model -> (epochs, batch size, lr, schedule): the shipped pipelines' settings
SETTINGS = {
    "mnist_mlp": (10, 128, 1.0e-3, ("onecycle", 3.0e-3)),
    "mnist_cnn": (5, 128, 1.0e-3, ("onecycle", 3.0e-3)),
    "mnist_fast": (1, 64, 1.0e-3, ("onecycle", 6.0e-3)),
    "sine": (300, 64, 1.0e-2, ("cosine", 0.0)),
}
EVAL_BATCH = 1000  # as dlpipe evaluates (and the peers' default, the training batch, would be slower)


def arrays(model: str):
    from loops import mnist_arrays, sine_arrays

    return sine_arrays() if model == "sine" else mnist_arrays()


def torch_schedule(optimizer, schedule, epochs: int, steps: int):
    """torch's scheduler for the pipeline's schedule: OneCycleLR stepped per batch, cosine per epoch."""
    import torch

    kind, value = schedule
    if kind == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=value, total_steps=epochs * steps, pct_start=0.3)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=value)


def lightning(model_name: str) -> dict:
    """PyTorch Lightning: a LightningModule around the same nn.Sequential, one gather per batch."""
    import lightning as L
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

    from loops import build

    epochs, batch, lr, schedule = SETTINGS[model_name]
    train, val, test = arrays(model_name)
    net, _, _ = build(model_name)
    classify = model_name != "sine"
    loss_fn = torch.nn.CrossEntropyLoss() if classify else torch.nn.MSELoss()
    steps = math.ceil(len(train.x) / batch)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch_, _):
            x, y = batch_
            return loss_fn(self.net(x), y)

        def validation_step(self, batch_, _):
            x, y = batch_
            out = self.net(x)
            self.log("val_loss", loss_fn(out, y))
            if classify:
                self.log("val_accuracy", (out.argmax(1) == y).float().mean())

        def configure_optimizers(self):
            optimizer = torch.optim.Adam(self.parameters(), lr=lr, fused=True)
            scheduler = torch_schedule(optimizer, schedule, epochs, steps)
            interval = "step" if schedule[0] == "onecycle" else "epoch"
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}

    def loader(split, shuffle: bool, size: int) -> DataLoader:
        data = TensorDataset(split.x, split.y)  # data[list of indices] is one gather
        sampler = RandomSampler(data) if shuffle else SequentialSampler(data)
        return DataLoader(data, sampler=BatchSampler(sampler, size, drop_last=False), batch_size=None)

    ticks = []

    class Clock(L.Callback):
        def on_train_epoch_end(self, trainer, module):  # after the epoch's validation
            ticks.append(time.perf_counter())

    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Clock()],
                        num_sanity_val_steps=0)
    start = time.perf_counter()
    module = Module()
    trainer.fit(module, loader(train, True, batch), loader(val, False, EVAL_BATCH))
    net.eval()
    with torch.inference_mode():
        out = torch.cat([net(test.x[i:i + EVAL_BATCH]) for i in range(0, len(test.x), EVAL_BATCH)])
    return _result(ticks, start, len(train.x), out.numpy(), test.y.numpy(), classify)


def keras(model_name: str) -> dict:
    """Keras 3 on its torch backend: numpy inputs, channels_first convolutions, no jit_compile."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np

    epochs, batch, lr, schedule = SETTINGS[model_name]
    train, val, test = arrays(model_name)
    keras.utils.set_random_seed(42)
    model = _keras_model(keras, model_name)
    classify = model_name != "sine"
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True) if classify else "mse"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=loss,
                  metrics=["accuracy"] if classify else [])
    x, y = train.x.numpy(), train.y.numpy()
    steps = math.ceil(len(x) / batch)
    ticks = []
    clock = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ticks.append(time.perf_counter()))
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0,
              validation_data=(val.x.numpy(), val.y.numpy()), validation_batch_size=EVAL_BATCH,
              callbacks=[_keras_schedule(keras, schedule, lr, epochs, steps), clock])
    out = np.asarray(model.predict(test.x.numpy(), batch_size=EVAL_BATCH, verbose=0))
    return _result(ticks, start, len(x), out, test.y.numpy(), classify)


def _keras_model(keras, name: str):
    from keras import layers

    if name == "sine":
        return keras.Sequential([keras.Input((1,)), layers.Dense(64, activation="tanh"),
                                 layers.Dense(64, activation="tanh"), layers.Dense(1)])
    head = [layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dropout(0.2), layers.Dense(10)]
    if name == "mnist_cnn":
        conv = dict(padding="same", activation="relu", data_format="channels_first")
        pool = dict(data_format="channels_first")
        head = [layers.Conv2D(32, 3, **conv), layers.MaxPooling2D(2, **pool), layers.Conv2D(64, 3, **conv),
                layers.MaxPooling2D(2, **pool), layers.Flatten(), layers.Dense(128, activation="relu"),
                layers.Dropout(0.3), layers.Dense(10)]
    if name == "mnist_fast":
        conv = dict(strides=2, activation="relu", data_format="channels_first")
        head = [layers.Conv2D(16, 5, **conv), layers.Conv2D(32, 3, **conv), layers.Flatten(),
                layers.Dense(64, activation="relu"), layers.Dense(10)]
    return keras.Sequential([keras.Input((1, 28, 28)), *head])


def _keras_schedule(keras, schedule, lr: float, epochs: int, steps: int):
    """The same schedule as torch's: one-cycle per batch (lr and beta_1, read from OneCycleLR), cosine per epoch."""
    import torch

    kind, value = schedule
    if kind == "cosine":
        return keras.callbacks.LearningRateScheduler(
            lambda epoch: value + (lr - value) * (1 + math.cos(math.pi * epoch / epochs)) / 2)
    dummy = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=lr)
    cycle = torch_schedule(dummy, schedule, epochs, steps)
    plan = []
    for _ in range(epochs * steps):
        plan.append((dummy.param_groups[0]["lr"], dummy.param_groups[0]["betas"][0]))
        dummy.step()
        cycle.step()

    class OneCycle(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0

        def on_train_batch_begin(self, batch_, logs=None):
            rate, beta = plan[min(self.step, len(plan) - 1)]
            self.model.optimizer.learning_rate.assign(rate)
            self.model.optimizer.beta_1 = beta
            self.step += 1

    return OneCycle()


def _result(ticks: list[float], start: float, train: int, out, y, classify: bool) -> dict:
    if classify:
        metric = {"accuracy": float((out.argmax(1) == y).mean())}
    else:
        metric = {"r2": float(1 - ((out - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())}
    return {"epoch_ends": [t - start for t in ticks], "train_samples": train, **metric}


def main() -> None:
    peer, model = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3:  # fewer epochs, for a quick check of the harness
        SETTINGS[model] = (int(sys.argv[3]), *SETTINGS[model][1:])
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(42)
    print(json.dumps({"lightning": lightning, "keras": keras}[peer](model)))


if __name__ == "__main__":
    main()
