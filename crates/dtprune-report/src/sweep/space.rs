//! The search space of a sweep: `--grid key=v1,v2,…` dimensions (every value is tried, the
//! trials are their cartesian product) and `--random key=lo:hi[:log]` dimensions (`--trials N`
//! draws per grid point, uniform or log-uniform, from a seeded generator).
//!
//! Keys stay plain strings here: which config field a key names, and whether its values are in
//! range, is the trainer's business (the CLI builds and validates every trial's config before
//! any trial starts). This module only reads the arguments and expands them, in a fixed order.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::{Result, SweepError};

/// More trials than this is a typo, not a sweep.
pub const MAX_TRIALS: usize = 100_000;

/// One trial's assignment: `(key, value)` in the order the dimensions were given.
pub type Assignment = Vec<(String, toml::Value)>;

/// `--grid key=v1,v2,…`: every value is tried.
#[derive(Debug, Clone, PartialEq)]
pub struct GridDim {
    pub key: String,
    pub values: Vec<toml::Value>,
}

/// `--random key=lo:hi[:log]`: values drawn from `[lo, hi]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomDim {
    pub key: String,
    pub lo: f64,
    pub hi: f64,
    /// Log-uniform (`:log`) instead of uniform.
    pub log: bool,
    /// Both bounds were written as integers: draw integers in `[lo, hi]` (inclusive).
    pub integer: bool,
}

/// Reads a `--grid` argument, `key=v1,v2,…`. Each value is read like a `-P key=value` override:
/// an integer, else a float, else `true`/`false`, else a string.
pub fn parse_grid(arg: &str) -> Result<GridDim> {
    let bad = |message: String| SweepError::BadDimension { arg: arg.to_string(), message };
    let (key, list) = split_key(arg).map_err(bad)?;
    if list.trim().is_empty() {
        return Err(bad(format!("key `{key}` has an empty list of values")));
    }
    let mut values = Vec::new();
    for text in list.split(',') {
        let text = text.trim();
        if text.is_empty() {
            return Err(bad(format!("key `{key}` has an empty value in its list")));
        }
        let value = parse_value(text);
        if let toml::Value::Float(f) = value {
            if !f.is_finite() {
                return Err(bad(format!("key `{key}`: value `{text}` is not a finite number")));
            }
        }
        if values.contains(&value) {
            return Err(bad(format!("key `{key}` lists `{text}` twice")));
        }
        values.push(value);
    }
    Ok(GridDim { key, values })
}

/// Reads a `--random` argument, `key=lo:hi` or `key=lo:hi:log`.
pub fn parse_random(arg: &str) -> Result<RandomDim> {
    let bad = |message: String| SweepError::BadDimension { arg: arg.to_string(), message };
    let (key, range) = split_key(arg).map_err(bad)?;
    let parts: Vec<&str> = range.split(':').map(str::trim).collect();
    let log = match parts.as_slice() {
        [_, _] => false,
        [_, _, "log"] => true,
        [_, _, other] => return Err(bad(format!("key `{key}`: unknown scale `{other}`; valid: log (or none for uniform)"))),
        _ => return Err(bad(format!("key `{key}`: expected lo:hi or lo:hi:log"))),
    };
    let number = |t: &str| -> Result<f64> {
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(bad(format!("key `{key}`: bound `{t}` is not a finite number"))),
        }
    };
    let (lo, hi) = (number(parts[0])?, number(parts[1])?);
    if lo >= hi {
        return Err(bad(format!("key `{key}`: the lower bound {lo} must be below the upper bound {hi}")));
    }
    if log && lo <= 0.0 {
        return Err(bad(format!("key `{key}`: a log scale needs a positive lower bound (got {lo})")));
    }
    let integer = parts[0].parse::<i64>().is_ok() && parts[1].parse::<i64>().is_ok();
    Ok(RandomDim { key, lo, hi, log, integer })
}

fn split_key(arg: &str) -> std::result::Result<(String, &str), String> {
    let (key, rest) = arg.split_once('=').ok_or_else(|| "expected KEY=VALUES".to_string())?;
    let key = key.trim();
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    Ok((key.to_string(), rest))
}

/// The same reading as `dtprune train -P key=value`.
fn parse_value(text: &str) -> toml::Value {
    if let Ok(i) = text.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = text.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = text.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(text.to_string())
    }
}

/// A checked search space: grid dimensions, random dimensions and how many random draws.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpace {
    grid: Vec<GridDim>,
    random: Vec<RandomDim>,
    draws: usize,
    seed: u64,
}

impl SearchSpace {
    /// `draws` (`--trials`) random points per grid point; needed exactly when there are random
    /// dimensions.
    pub fn new(grid: Vec<GridDim>, random: Vec<RandomDim>, draws: Option<usize>, seed: u64) -> Result<Self> {
        if grid.is_empty() && random.is_empty() {
            return Err(SweepError::Space("nothing to sweep: give at least one --grid KEY=V1,V2 or --random KEY=LO:HI".into()));
        }
        let draws = match (random.is_empty(), draws) {
            (true, None) => 1,
            (true, Some(_)) => return Err(SweepError::Space("--trials N sets the number of random draws; it needs a --random KEY=LO:HI".into())),
            (false, None) => return Err(SweepError::Space("--random needs --trials N (random draws per grid point)".into())),
            (false, Some(0)) => return Err(SweepError::Space("--trials 0 is out of range; valid range is [1, 100000]".into())),
            (false, Some(n)) => n,
        };
        let mut keys: Vec<&str> = Vec::new();
        for key in grid.iter().map(|g| g.key.as_str()).chain(random.iter().map(|r| r.key.as_str())) {
            if keys.contains(&key) {
                return Err(SweepError::DuplicateKey { key: key.to_string() });
            }
            keys.push(key);
        }
        let total = grid.iter().try_fold(draws, |n, g| n.checked_mul(g.values.len()));
        match total {
            Some(n) if n <= MAX_TRIALS => {}
            _ => return Err(SweepError::Space(format!("the sweep has more than {MAX_TRIALS} trials"))),
        }
        Ok(Self { grid, random, draws, seed })
    }

    /// Every swept key, grid keys first, in the order given.
    pub fn keys(&self) -> Vec<String> {
        self.grid.iter().map(|g| g.key.clone()).chain(self.random.iter().map(|r| r.key.clone())).collect()
    }

    /// Number of trials [`expand`](Self::expand) returns.
    pub fn len(&self) -> usize {
        self.grid.iter().map(|g| g.values.len()).product::<usize>() * self.draws
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every trial's assignment. Grid points in odometer order (the last `--grid` varies
    /// fastest); for each, `draws` random points, drawn in that order from one ChaCha8 stream
    /// seeded with the sweep seed. The same arguments give the same trials on any machine.
    pub fn expand(&self) -> Vec<Assignment> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut out = Vec::with_capacity(self.len());
        for point in cartesian(&self.grid) {
            for _ in 0..self.draws {
                let mut a = point.clone();
                for r in &self.random {
                    a.push((r.key.clone(), r.draw(unit(&mut rng))));
                }
                out.push(a);
            }
        }
        out
    }
}

/// The cartesian product of the grid dimensions (one empty assignment without any).
fn cartesian(grid: &[GridDim]) -> Vec<Assignment> {
    let mut points: Vec<Assignment> = vec![Vec::new()];
    for dim in grid {
        points = points
            .into_iter()
            .flat_map(|p| dim.values.iter().map(move |v| {
                let mut q = p.clone();
                q.push((dim.key.clone(), v.clone()));
                q
            }))
            .collect();
    }
    points
}

/// A uniform number in [0, 1): the top 53 bits of one 64-bit output.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl RandomDim {
    /// The value at `u ∈ [0, 1)` of this dimension's (log-)uniform distribution. Floats are
    /// rounded to 4 significant digits so that the configs stay readable (`lr = 0.003142`).
    pub fn draw(&self, u: f64) -> toml::Value {
        if self.integer {
            // Inclusive bounds: [lo, hi + 1) on the continuous scale, floored.
            let (lo, hi) = (self.lo, self.hi + 1.0);
            let x = if self.log { (lo.ln() + u * (hi.ln() - lo.ln())).exp() } else { lo + u * (hi - lo) };
            toml::Value::Integer((x.floor() as i64).clamp(self.lo as i64, self.hi as i64))
        } else {
            let x = if self.log { (self.lo.ln() + u * (self.hi.ln() - self.lo.ln())).exp() } else { self.lo + u * (self.hi - self.lo) };
            toml::Value::Float(round_significant(x, 4).clamp(self.lo, self.hi))
        }
    }
}

fn round_significant(x: f64, digits: usize) -> f64 {
    format!("{:.*e}", digits - 1, x).parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::Value::{Float, Integer, String as Str};

    fn space(grid: &[&str], random: &[&str], draws: Option<usize>) -> Result<SearchSpace> {
        let g = grid.iter().map(|a| parse_grid(a)).collect::<Result<Vec<_>>>()?;
        let r = random.iter().map(|a| parse_random(a)).collect::<Result<Vec<_>>>()?;
        SearchSpace::new(g, r, draws, 7)
    }

    #[test]
    fn grid_values_are_typed_like_policy_params() {
        let g = parse_grid("budget=0.002, 0.005,1,true,gmp").unwrap();
        assert_eq!(g.key, "budget");
        assert_eq!(g.values, vec![Float(0.002), Float(0.005), Integer(1), toml::Value::Boolean(true), Str("gmp".into())]);
    }

    /// 2 × 3 grid: 6 trials, the last key varying fastest.
    #[test]
    fn grid_is_the_cartesian_product_in_odometer_order() {
        let s = space(&["lr=0.1,0.2", "budget=1,2,3"], &[], None).unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(s.keys(), ["lr", "budget"]);
        let got: Vec<(f64, i64)> = s.expand().iter().map(|a| (a[0].1.as_float().unwrap(), a[1].1.as_integer().unwrap())).collect();
        assert_eq!(got, [(0.1, 1), (0.1, 2), (0.1, 3), (0.2, 1), (0.2, 2), (0.2, 3)]);
    }

    #[test]
    fn random_draws_per_grid_point_in_range_and_reproducible() {
        let s = space(&["seed=1,2"], &["lr=0.0001:0.01:log", "epochs=2:4"], Some(5)).unwrap();
        let a = s.expand();
        assert_eq!(a.len(), 10);
        assert_eq!(a, s.expand(), "same seed, same trials");
        for t in &a {
            let lr = t[1].1.as_float().unwrap();
            assert!((1e-4..=1e-2).contains(&lr), "{lr}");
            let e = t[2].1.as_integer().unwrap();
            assert!((2..=4).contains(&e), "{e}");
        }
        // The first five trials are seed 1, the next five seed 2.
        assert!(a[..5].iter().all(|t| t[0].1 == Integer(1)) && a[5..].iter().all(|t| t[0].1 == Integer(2)));
        let other = SearchSpace::new(vec![parse_grid("seed=1,2").unwrap()], vec![parse_random("lr=0.0001:0.01:log").unwrap(), parse_random("epochs=2:4").unwrap()], Some(5), 8).unwrap();
        assert_ne!(a, other.expand(), "another sweep seed draws other values");
    }

    /// Hand-computed draws: the quantile function at chosen u.
    #[test]
    fn draw_maps_unit_interval_to_the_range() {
        let lin = parse_random("x=2:4").unwrap();
        assert!(lin.integer);
        // [2, 5) floored: u = 0 → 2, u = 0.5 → 3.5 → 3, u just below 1 → 4.
        assert_eq!(lin.draw(0.0), Integer(2));
        assert_eq!(lin.draw(0.5), Integer(3));
        assert_eq!(lin.draw(0.999_999), Integer(4));
        let log = parse_random("lr=0.001:0.1:log").unwrap();
        assert!(!log.integer);
        // exp(ln 0.001 + 0.5·(ln 0.1 − ln 0.001)) = 0.01.
        assert_eq!(log.draw(0.5), Float(0.01));
        assert_eq!(log.draw(0.0), Float(0.001));
        let u = parse_random("budget=0.0:1.0").unwrap();
        assert!(!u.integer, "bounds written with a point are float bounds");
        // 0.25 + rounding to 4 significant digits: 0.123456 → 0.1235.
        assert_eq!(u.draw(0.25), Float(0.25));
        assert_eq!(u.draw(0.123_456), Float(0.1235));
    }

    #[test]
    fn bad_arguments_name_the_key() {
        let e = |r: Result<SearchSpace>| r.unwrap_err().to_string();
        assert!(e(space(&["budget="], &[], None)).contains("key `budget` has an empty list"));
        assert!(e(space(&["budget=0.1,,0.2"], &[], None)).contains("empty value"));
        assert!(e(space(&["budget=nan"], &[], None)).contains("not a finite number"));
        assert!(e(space(&["budget=0.1,0.1"], &[], None)).contains("twice"));
        assert!(e(space(&["=1,2"], &[], None)).contains("key is empty"));
        assert!(e(space(&["budget"], &[], None)).contains("KEY=VALUES"));
        assert!(e(space(&[], &["lr=0.1:0.01"], Some(2))).contains("lower bound 0.1 must be below"));
        assert!(e(space(&[], &["lr=0:0.01:log"], Some(2))).contains("positive lower bound"));
        assert!(e(space(&[], &["lr=0.1:0.2:cubic"], Some(2))).contains("unknown scale `cubic`"));
        assert!(e(space(&[], &["lr=0.1"], Some(2))).contains("lo:hi"));
        assert!(e(space(&[], &["lr=0.1:0.2"], None)).contains("--trials"));
        assert!(e(space(&["lr=0.1,0.2"], &[], Some(3))).contains("needs a --random"));
        assert!(e(space(&["lr=0.1,0.2"], &["lr=0.1:0.2"], Some(3))).contains("`lr` is swept more than once"));
        assert!(e(space(&[], &[], None)).contains("nothing to sweep"));
    }
}
