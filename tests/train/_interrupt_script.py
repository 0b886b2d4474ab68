"""Run by `test_interrupt.py` as `python _interrupt_script.py CHECKPOINT_DIR`: trains a tiny MLP for a million
steps with a checkpoint every 200, until the test presses Ctrl-C (sends SIGINT). Then, as a command-line
program would, it prints the `Interrupted` message to stderr and exits with status 130. The test imports
`problem` to resume the run and to train it without interruption."""

import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

STEPS = 1_000_000
CHECKPOINT_EVERY = 200


def problem():
    """A tiny MLP, its loss and 12 samples."""
    x = jnp.linspace(-1.0, 1.0, 12)[:, None]

    def loss_fn(model, batch, *, key):
        x, y = batch
        return jnp.mean((jax.vmap(model)(x) - y) ** 2)

    return eqx.nn.MLP(1, 1, 6, 1, activation=jnp.tanh, key=jax.random.key(0)), loss_fn, (x, jnp.sin(3.0 * x))


def main(directory):
    from scimlx._interrupt import Interrupted
    from scimlx.train import RunOptions, fit

    model, loss_fn, data = problem()
    run = RunOptions(steps=STEPS, batch_size=4, checkpoint_dir=directory, checkpoint_every=CHECKPOINT_EVERY,
                     progress=False)  # fmt: skip
    try:
        fit(model, loss_fn, data, optax.adam(1e-2), key=jax.random.key(1), run=run)
    except Interrupted as e:
        assert e.result.step == e.step and bool(jnp.isfinite(e.result.history["loss"][-1]))
        print(e, file=sys.stderr)
        return 130
    print("not interrupted", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
