"""How many paired units (seeds, images) would resolve a difference."""

from __future__ import annotations

import math

from tokkit.errors import UsageError
from tokkit.stats.intervals import check_level


def seeds_needed(sd_diff: float | None, delta: float | None, level: float = 0.95, power: float = 0.8) -> int | None:
    """Paired sample size at which a true difference ``delta`` is resolved with probability ``power``.

    "Resolved" means that the two-sided ``level`` t interval of the mean paired difference excludes 0
    (a paired t-test at alpha = 1 - level rejects). With r = sd_diff / |delta| the usual normal
    approximation is  n = (z_{1-alpha/2} + z_power)^2 r^2; it is refined with Student-t quantiles,
    n = the smallest n >= max(2, ceil(that)) with  (t_{1-alpha/2, n-1} + t_{power, n-1})^2 r^2 <= n.

    ``sd_diff`` is the standard deviation of the PAIRED differences a_i - b_i. The often quoted
    n = 2 (z_{1-alpha/2} + z_power)^2 (sd/delta)^2 is the per-group size of an UNPAIRED design with
    the per-group sd: its factor 2 is Var(a - b) = 2 sd^2 for independent groups, which the paired sd
    already contains (with correlation rho between a_i and b_i, sd_diff^2 = 2 sd^2 (1 - rho)); so no
    factor 2 here.

    Returns None when there is nothing to resolve or nothing to go on: delta None, 0 or not finite;
    sd_diff None, negative or not finite; sd_diff / delta overflowing. sd_diff == 0 with delta != 0
    gives 2: differences without spread are resolved by any n >= 2 (the interval is the point
    itself), and 2 is the least n with an interval at all.
    """
    level = check_level(level)
    power = check_level(power, "power")
    if power < 0.5:  # below 0.5, t_power < 0 and the size condition is no longer monotone in n
        raise UsageError(f"power must be between 0.5 and 1 (e.g. 0.8); got {power}")
    if delta is None or sd_diff is None:
        return None
    delta, sd_diff = float(delta), float(sd_diff)
    if delta == 0.0 or not math.isfinite(delta) or not math.isfinite(sd_diff) or sd_diff < 0.0:
        return None
    if sd_diff == 0.0:
        return 2
    from scipy.stats import norm, t

    ratio = sd_diff / abs(delta)
    r2 = ratio * ratio  # float multiplication overflows to inf (** raises)
    if not math.isfinite(r2):  # delta negligible against sd_diff: no finite number of seeds
        return None
    q_a, q_p = (1.0 + level) / 2.0, power
    n = max(2, math.ceil((norm.ppf(q_a) + norm.ppf(q_p)) ** 2 * r2))

    # t quantiles exceed the normal ones, so the normal n is a lower bound, and the condition is
    # monotone in n: double until it holds, then bisect to the least n that satisfies it.
    def ok(k: int) -> bool:
        return (t.ppf(q_a, k - 1) + t.ppf(q_p, k - 1)) ** 2 * r2 <= k

    if ok(n):
        return int(n)
    lo, hi = n, 2 * n
    while not ok(hi):
        lo, hi = hi, 2 * hi
    while hi - lo > 1:  # ok(hi), not ok(lo)
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return int(hi)


__all__ = ["seeds_needed"]
