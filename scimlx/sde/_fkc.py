"""Feynman-Kac correctors (Skreta et al., ICML 2025): sampling annealed, product and guided targets built from
pretrained scores exactly, by weighting reverse-SDE particles and resampling them (sequential Monte Carlo).

Every target here is a product of powers of the pretrained marginals, `p_t ∝ Π_i q_{i,t}^{β_i}` (annealing:
one expert, `β`; a product of experts: all `β_i = 1`; a geometric average: `Σ β_i = 1`; classifier-free
guidance: `β = (1 - w, w)` on the unconditional and conditional scores). With `S = Σ_i β_i ∇ log q_i`,
`B = Σ_i β_i` and the forward SDE `dx = f(t) x dt + g(t) dW`, the particles follow, in reverse time
`τ = T - t`,

    dx = [-f x + (1 + c)/2 g^2 S] dτ + sqrt(c) g dW,     d log w = G dτ,
    G = (B - 1) ∇·(f x) + g^2/2 (|S|^2 - Σ_i β_i |∇ log q_i|^2),    ∇·(f x) = d f(t),

for any noise scale `c > 0`: `c = 1` is the paper's "target score" SDE, `c = 1/B` its "tempered noise" SDE
(derived from the Fokker-Planck equations of both sides; the Laplacians cancel, so only scores are needed).
The weighted empirical measure then follows `p_t` exactly as the steps shrink and the particles grow. `B = 1`
with one expert gives `G = 0`: the plain reverse SDE. Time-varying `β` would need `log q` itself, not only
scores, and is not supported (as in the paper's code).
"""

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from equinox import AbstractClassVar
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from scimlx.core.validate import check_callable, check_choice, check_int, check_key, check_number

from ._diffusion import AbstractForwardSDE, ScoreFn, _check_sde, _time_grid
from ._smc import RESAMPLING, effective_sample_size, resample

__all__ = [
    "AbstractFKCTarget",
    "Annealed",
    "FKCResult",
    "Guided",
    "Product",
    "fkc_log_weight_rate",
    "sample_fkc",
]


class AbstractFKCTarget(eqx.Module):
    """A target `p_t ∝ Π_i q_{i,t}^{β_i}` of pretrained scores; subclasses give `scores` and `betas`."""

    name: AbstractClassVar[str]
    formula: AbstractClassVar[str]

    @property
    @abc.abstractmethod
    def scores(self) -> tuple[ScoreFn, ...]:
        """The experts' scores `∇ log q_i(t, x)`."""

    @property
    @abc.abstractmethod
    def betas(self) -> tuple[float, ...]:
        """The powers `β_i`."""

    def __check_init__(self):
        for i, s in enumerate(self.scores):
            check_callable(f"scores[{i}]", s)
        if sum(self.betas) <= 0:
            raise ValueError(
                f"the powers must have a positive sum (the prior is raised to it), got {self.betas}"
            )

    def expert_scores(self, t: ArrayLike, x: Float[Array, " d"]) -> Float[Array, "k d"]:  # noqa: F821
        """The experts' scores at one point, stacked."""
        return jnp.stack([s(t, x) for s in self.scores])


class Annealed(AbstractFKCTarget):
    """The annealed target `q_t^β` (temperature `1/β`) of one score.

    **Arguments:**

    - `score`: `score(t, x) -> (d,)`.
    - `beta`: the inverse temperature, `> 0` (`β > 1` sharpens, `β < 1` flattens).
    """

    name: ClassVar[str] = "annealed"
    formula: ClassVar[str] = "p_t ∝ q_t^β"

    score: ScoreFn
    beta: float

    def __check_init__(self):
        check_number("beta", self.beta, low=0.0, low_open=True)

    @property
    def scores(self):
        return (self.score,)

    @property
    def betas(self):
        return (float(self.beta),)


class Product(AbstractFKCTarget):
    """A product of powers of experts, `Π_i q_{i,t}^{β_i}`: a product of experts (powers 1, the default) or a
    geometric average (powers summing to one).

    **Arguments:**

    - `experts`: the scores `score_i(t, x) -> (d,)`, at least one.
    - `powers`: the `β_i` (default all 1).
    """

    name: ClassVar[str] = "product"
    formula: ClassVar[str] = "p_t ∝ Π_i q_{i,t}^{β_i}"

    experts: tuple[ScoreFn, ...]
    powers: tuple[float, ...] | None = None

    def __check_init__(self):
        if not isinstance(self.experts, tuple) or not self.experts:
            raise TypeError("`experts` must be a non-empty tuple of score functions")
        if self.powers is not None:
            if not isinstance(self.powers, tuple) or len(self.powers) != len(self.experts):
                raise ValueError(
                    f"`powers` must be a tuple of {len(self.experts)} numbers, got {self.powers}"
                )
            for i, b in enumerate(self.powers):
                check_number(f"powers[{i}]", b)

    @property
    def scores(self):
        return self.experts

    @property
    def betas(self):
        return tuple(float(b) for b in self.powers) if self.powers is not None else (1.0,) * len(self.experts)


class Guided(AbstractFKCTarget):
    """Classifier-free guidance as a target: `q_uncond^{1-w} q_cond^w`, the geometric average the guided
    score `(1 - w) ∇ log q_uncond + w ∇ log q_cond` aims at.

    **Arguments:**

    - `unconditional`, `conditional`: the two scores `score(t, x) -> (d,)`.
    - `weight`: the guidance weight `w` (`w > 1` strengthens the condition).
    """

    name: ClassVar[str] = "guided"
    formula: ClassVar[str] = "p_t ∝ q_uncond^(1-w) q_cond^w"

    unconditional: ScoreFn
    conditional: ScoreFn
    weight: float

    def __check_init__(self):
        check_number("weight", self.weight)

    @property
    def scores(self):
        return (self.unconditional, self.conditional)

    @property
    def betas(self):
        return (1.0 - float(self.weight), float(self.weight))


def _check_target(target):
    if not isinstance(target, AbstractFKCTarget):
        raise TypeError(
            f"`target` must be an FKC target (Annealed, Product, Guided), got {type(target).__name__}"
        )
    return target


def fkc_log_weight_rate(
    target: AbstractFKCTarget,
    sde: AbstractForwardSDE,
    t: ArrayLike,
    expert_scores: Float[Array, "k d"],  # noqa: F821
) -> Array:
    """The log-weight rate `G = (B - 1) d f(t) + g^2/2 (|S|^2 - Σ_i β_i |s_i|^2)` per unit of reverse time
    at one point, from the experts' scores there (module docstring)."""
    target, sde = _check_target(target), _check_sde(sde)
    betas = jnp.asarray(target.betas, expert_scores.dtype)
    # |S|^2 - Σ β_i |s_i|^2 = Σ_ij (β_i β_j - δ_ij β_i) <s_i, s_j>: exactly zero for one expert with β = 1
    q = jnp.outer(betas, betas) - jnp.diag(betas)
    gram = jnp.sum(expert_scores[:, None, :] * expert_scores[None, :, :], axis=-1)  # no tiny batched matmuls
    bracket = jnp.sum(q * gram)
    div_f = expert_scores.shape[-1] * sde.f(t)
    return (jnp.sum(betas) - 1) * div_f + 0.5 * sde.g2(t) * bracket


class FKCResult(eqx.Module):
    """The particles of an FKC run.

    **Arguments:**

    - `samples`: `(n, d)` at the last time.
    - `log_weights`: `(n,)` the log-weights accumulated since the last resampling (zero when the last step
        resampled; the paper's sampler does not resample after its last step, so weight the samples, or
        [`resample`][scimlx.sde.resample] them, for estimates).
    - `ess`: `(steps,)` the effective sample size after each step's weight update, before resampling.
    - `resampled`: `(steps,)` whether the step resampled (for birth-death: whether any particle jumped).
    """

    samples: Float[Array, "n d"]  # noqa: F821
    log_weights: Float[Array, " n"]
    ess: Float[Array, " steps"]
    resampled: Bool[Array, " steps"]


class _Particles(eqx.Module):
    x: Array
    log_w: Array
    clock: Array  # birth-death: accumulated death rate
    birth: Array  # unused: kept so that every scheme shares one carry
    threshold: Array  # birth-death: Exp(1) death thresholds


class _Progress:
    """A tqdm bar driven from inside a compiled loop by `jax.debug.callback`."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.bar = total, desc, None

    def __call__(self, done):
        from tqdm.auto import tqdm

        done = int(done)
        if self.bar is None or self.bar.n > done:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=self.total, desc=self.desc, unit="step")
        self.bar.update(done - self.bar.n)
        if done >= self.total:
            self.bar.close()
            self.bar = None


def sample_fkc(
    target: AbstractFKCTarget,
    sde: AbstractForwardSDE,
    *,
    key: PRNGKeyArray,
    num_samples: int,
    dim: int,
    steps: int = 1000,
    ts: ArrayLike | None = None,
    noise: str | float = "target",
    corrected: bool = True,
    resampling: str | None = "systematic",
    ess_threshold: float | None = None,
    resample_from: int = 0,
    progress: bool = False,
) -> FKCResult:
    """Samples of `target` by the Feynman-Kac-corrected reverse SDE (Euler-Maruyama on a fixed grid, the
    weights by the left-point rule, all in one `lax.scan`, vmapped over the particles; jit-compilable).

    **Arguments:**

    - `target`: an [`Annealed`][scimlx.sde.Annealed], [`Product`][scimlx.sde.Product] or
        [`Guided`][scimlx.sde.Guided] target of any score functions (trained, or closed-form such as
        [`GaussianMixture.score_fn`][scimlx.sde.GaussianMixture.score_fn]).
    - `sde`: the forward SDE the scores belong to.
    - `key`: a PRNG key.
    - `num_samples`, `dim`: the particles' shape.
    - `steps`, `ts`: uniform steps from `T` to `eps`, or the decreasing grid itself (start later than `T` to
        skip a warm-up, as the paper's `start_resampling_step`). The particles start from the forward
        marginal's noise at the first time raised to the power `B`: `N(0, s(t_0)^2 I / B)` (the data's share
        `m(t_0)^2 Var(x_0)` is neglected).
    - `noise`: `"target"` (`c = 1`, the paper's target-score SDE), `"tempered"` (`c = 1/B`, its
        tempered-noise SDE) or a positive number `c`: the squared noise scale relative to `g`.
    - `corrected`: `False` drops the weights and resampling: the uncorrected sampler with the same drift.
    - `resampling`: `"systematic"` (the paper's), `"stratified"`, `"multinomial"`, `"residual"`,
        `"birth_death"` (the paper's jump-process alternative: the negative parts of each step's centred
        weight increments `c_i` feed a death clock per particle; a particle whose clock passes an `Exp(1)`
        threshold is replaced by a copy of one drawn in proportion to the step's positive parts `c_j^+`, and
        its clock restarts; the expected offspring is `1 + c_i` to first order. The paper's code draws the
        parent in proportion to positive parts accumulated since each particle's last death instead, which
        came out biased in our product check), or `None` (importance weights only, never resampled).
    - `ess_threshold`: `None` resamples after every step (the paper's setting); a number in `(0, 1]`
        resamples only when the effective sample size falls below that fraction of `num_samples`, the
        log-weights accumulating in between.
    - `resample_from`: no resampling before this step (the weights still accumulate).
    - `progress`: a progress bar over the steps (a host callback from the compiled loop).

    The last step does not resample (as the paper's sampler): the result carries its log-weights.
    """
    target, sde = _check_target(target), _check_sde(sde)
    key = check_key(key)
    num_samples, dim = check_int("num_samples", num_samples), check_int("dim", dim)
    if resampling is not None:
        check_choice("resampling", resampling, (*RESAMPLING, "birth_death"))
    if ess_threshold is not None:
        check_number("ess_threshold", ess_threshold, low=0.0, high=1.0, low_open=True)
        if resampling == "birth_death":
            raise ValueError("`ess_threshold` does not apply to `resampling='birth_death'`")
    resample_from = check_int("resample_from", resample_from, low=0)
    betas = target.betas
    b_sum = sum(betas)
    if isinstance(noise, str):
        check_choice("noise", noise, ("target", "tempered"))
        c = 1.0 if noise == "target" else 1.0 / b_sum
    else:
        c = check_number("noise", noise, low=0.0, low_open=True)
    grid = _time_grid(sde, steps, ts)
    n = grid.shape[0] - 1
    bar = _Progress(n, f"FKC {target.name}") if progress else None
    every = max(1, n // 100)

    k0, k1, key = jax.random.split(key, 3)
    _, s0 = sde.marginal(grid[0])
    x0 = (s0 / math.sqrt(b_sum)) * jax.random.normal(k0, (num_samples, dim))
    dtype = x0.dtype
    carry0 = _Particles(
        x=x0, log_w=jnp.zeros(num_samples, dtype), clock=jnp.zeros(num_samples, dtype),
        birth=jnp.zeros(num_samples, dtype), threshold=jax.random.exponential(k1, (num_samples,), dtype),
    )  # fmt: skip
    beta_arr = jnp.asarray(betas, dtype)
    vscores = jax.vmap(target.expert_scores, in_axes=(None, 0))

    def rate(t, scores):
        return jax.vmap(lambda s: fkc_log_weight_rate(target, sde, t, s))(scores)

    def step(p: _Particles, inp):
        i, t, t_next, k = inp
        k_noise, k_res, k_thr = jax.random.split(k, 3)
        h = t - t_next  # > 0
        scores = vscores(t, p.x)  # (n, k, d)
        s = jnp.einsum("k,nkd->nd", beta_arr, scores)
        g2 = sde.g2(t)
        z = jax.random.normal(k_noise, p.x.shape, dtype)
        x = p.x + (-sde.f(t) * p.x + 0.5 * (1 + c) * g2 * s) * h + jnp.sqrt(c * g2 * h) * z
        if not corrected:
            p = eqx.tree_at(lambda q: q.x, p, x)
            return p, (jnp.asarray(num_samples, dtype), jnp.asarray(False))
        inc = rate(t, scores) * h
        allowed = (i >= resample_from) & (i < n - 1)
        if resampling == "birth_death":
            centred = inc - jnp.mean(inc)
            clock = p.clock + jnp.maximum(-centred, 0)
            dead = allowed & (clock >= p.threshold)
            birth = jnp.maximum(centred, 0)
            logits = jnp.where(jnp.sum(birth) > 0, jnp.log(jnp.maximum(birth, 1e-300)), 0.0)
            parents = resample(k_res, logits, method="multinomial")
            idx = jnp.where(dead, parents, jnp.arange(num_samples))
            fresh = jax.random.exponential(k_thr, (num_samples,), dtype)
            new = _Particles(
                x=x[idx], log_w=p.log_w, clock=jnp.where(dead, 0.0, clock), birth=p.birth,
                threshold=jnp.where(dead, fresh, p.threshold),
            )  # fmt: skip
            return new, (effective_sample_size(p.log_w), jnp.any(dead))
        log_w = p.log_w + inc
        ess = effective_sample_size(log_w)
        due = allowed if ess_threshold is None else allowed & (ess < ess_threshold * num_samples)
        if resampling is None:
            due = jnp.asarray(False)
        idx = resample(k_res, log_w, method=resampling) if resampling is not None else jnp.arange(num_samples)
        idx = jnp.where(due, idx, jnp.arange(num_samples))
        new = eqx.tree_at(lambda q: (q.x, q.log_w), p, (x[idx], jnp.where(due, 0.0, log_w)))
        return new, (ess, due)

    def step_with_bar(p, inp):
        out = step(p, inp)
        i = inp[0]
        jax.lax.cond(
            ((i + 1) % every == 0) | (i + 1 == n),
            lambda: jax.debug.callback(bar, i + 1),
            lambda: None,
        )
        return out

    inputs = (jnp.arange(n), grid[:-1], grid[1:], jax.random.split(key, n))
    p, (ess, due) = jax.lax.scan(step_with_bar if progress else step, carry0, inputs)
    return FKCResult(samples=p.x, log_weights=p.log_w, ess=ess, resampled=due)
