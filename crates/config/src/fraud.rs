//! The `fraud` section: who may call (registered flows only) and the toll-fraud policy
//! (palisade-fraud's [`Rules`]): destination classes and their limits, account
//! assignments, emergency numbers and fraud rules with time windows.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use palisade_fraud::{Class, FraudRule, Limits, Pattern, Rules, Thresholds, Window};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::raw::{F, List};
use crate::validate::{Ctx, at, position, value};

/// Most classes, rules, account assignments and entries of one list.
const MAX_CLASSES: usize = 64;
const MAX_RULES: usize = 256;
const MAX_ACCOUNTS: usize = 100_000;
const MAX_LIST: usize = 4096;

/// `fraud`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudConfig {
    /// INVITEs from the access side only from a registered flow or `security.trusted`.
    pub registered_only: bool,
    /// The policy.
    pub rules: Rules,
}

impl Default for FraudConfig {
    fn default() -> Self {
        Self {
            registered_only: true,
            rules: Rules::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFraud {
    registered_only: F<bool>,
    default_class: F<String>,
    emergency: F<List>,
    block_time: F<String>,
    utc_offset: F<String>,
    max_accounts: F<String>,
    classes: F<Vec<Spanned<RawClass>>>,
    accounts: F<BTreeMap<String, Spanned<String>>>,
    rules: F<Vec<Spanned<RawRule>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    name: F<String>,
    allow: F<List>,
    deny: F<List>,
    max_concurrent: F<String>,
    calls_per_minute: F<String>,
    calls_per_day: F<String>,
    minutes_per_day: F<String>,
    max_duration: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: F<String>,
    prefix: F<String>,
    hours: F<String>,
    days: F<String>,
    calls_per_minute: F<RawThresholds>,
    concurrent_calls: F<RawThresholds>,
    sequential_calls: F<RawThresholds>,
    total_calls: F<RawThresholds>,
    call_duration: F<RawThresholds>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    warning: F<String>,
    critical: F<String>,
}

const DAY: Duration = Duration::from_secs(86_400);

fn patterns(ctx: &mut Ctx<'_>, f: &F<List>, key: &str) -> Vec<Pattern> {
    let items = value(f).map(Vec::as_slice).unwrap_or_default();
    if items.len() > MAX_LIST {
        ctx.error(at(f), key, format!("more than {MAX_LIST} entries"));
    }
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match Pattern::parse(item.value.trim()) {
            Ok(p) => Some(p),
            Err(e) => {
                ctx.error(
                    Some(position(&item.referenced)),
                    &format!("{key}[{i}]"),
                    format!("{:?}: {e}", item.value),
                );
                None
            }
        })
        .collect()
}

fn thresholds(ctx: &mut Ctx<'_>, f: &F<RawThresholds>, key: &str, seconds: bool) -> Thresholds {
    let Some(t) = value(f) else {
        return Thresholds::default();
    };
    let mut one = |f: &F<String>, level: &str| -> Option<u64> {
        f.as_ref()?;
        let k = format!("{key}.{level}");
        Some(if seconds {
            ctx.duration(f, &k, Duration::ZERO, Duration::from_secs(1), DAY)
                .as_secs()
        } else {
            ctx.number(f, &k, 0, 1, 1_000_000)
        })
    };
    let warning = one(&t.warning, "warning");
    let critical = one(&t.critical, "critical");
    if let (Some(w), Some(c)) = (warning, critical)
        && w > c
    {
        ctx.error(
            at(&t.warning),
            &format!("{key}.warning"),
            format!("{w} is above the critical threshold ({c})"),
        );
    }
    Thresholds { warning, critical }
}

fn utc_offset(ctx: &mut Ctx<'_>, f: &F<String>) -> i32 {
    let Some(s) = f else { return 0 };
    let text = s.value.trim();
    let parsed = (|| {
        if text.eq_ignore_ascii_case("utc") || text == "Z" {
            return Some(0);
        }
        let (sign, rest) = match text.as_bytes().first()? {
            b'+' => (1, &text[1..]),
            b'-' => (-1, &text[1..]),
            _ => return None,
        };
        let (h, m) = rest.split_once(':')?;
        let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
        ((0..=14).contains(&h) && (0..60).contains(&m)).then_some(sign * (h * 3600 + m * 60))
    })();
    parsed.unwrap_or_else(|| {
        ctx.error(
            at(f),
            "fraud.utc_offset",
            format!("{text:?} is not an offset such as \"+01:00\", \"-05:00\" or \"UTC\""),
        );
        0
    })
}

pub(crate) fn build(raw: Option<&RawFraud>, ctx: &mut Ctx<'_>) -> FraudConfig {
    let Some(raw) = raw else {
        return FraudConfig::default();
    };
    let mut rules = Rules::default();
    let dl = Limits::default();

    for (i, c) in value(&raw.classes)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let k = format!("fraud.classes[{i}]");
        if i >= MAX_CLASSES {
            ctx.error(
                Some(position(&c.referenced)),
                &k,
                format!("more than {MAX_CLASSES} classes"),
            );
            break;
        }
        let c_at = Some(position(&c.referenced));
        let c = &c.value;
        let Some(name) = value(&c.name)
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
        else {
            ctx.error(c_at, &format!("{k}.name"), "a class needs a name");
            continue;
        };
        let limits = Limits {
            max_concurrent: ctx.count(
                &c.max_concurrent,
                &format!("{k}.max_concurrent"),
                dl.max_concurrent,
                0,
                100_000,
            ),
            calls_per_minute: ctx.count(
                &c.calls_per_minute,
                &format!("{k}.calls_per_minute"),
                dl.calls_per_minute,
                0,
                100_000,
            ),
            calls_per_day: ctx.count(
                &c.calls_per_day,
                &format!("{k}.calls_per_day"),
                dl.calls_per_day,
                0,
                10_000_000,
            ),
            minutes_per_day: ctx.count(
                &c.minutes_per_day,
                &format!("{k}.minutes_per_day"),
                dl.minutes_per_day,
                0,
                10_000_000,
            ),
            max_duration: ctx.duration(
                &c.max_duration,
                &format!("{k}.max_duration"),
                dl.max_duration,
                Duration::ZERO,
                7 * DAY,
            ),
        };
        let class = Class {
            name: name.clone(),
            allow: patterns(ctx, &c.allow, &format!("{k}.allow")),
            deny: patterns(ctx, &c.deny, &format!("{k}.deny")),
            limits,
        };
        // A class named like a built-in one replaces it.
        match rules.classes.iter().position(|x| x.name == name) {
            Some(j) if j < 2 => rules.classes[j] = class,
            Some(_) => ctx.error(
                at(&c.name),
                &format!("{k}.name"),
                format!("{name:?} is defined twice"),
            ),
            None => rules.classes.push(class),
        }
    }
    let class_index = |rules: &Rules, name: &str| rules.classes.iter().position(|c| c.name == name);
    let names = || {
        let v: Vec<String> = rules.classes.iter().map(|c| c.name.clone()).collect();
        v.join(", ")
    };

    if let Some(d) = &raw.default_class {
        match class_index(&rules, d.value.trim()) {
            Some(i) => rules.default_class = i,
            None => ctx.error(
                at(&raw.default_class),
                "fraud.default_class",
                format!("{:?} is not a class: expected one of {}", d.value, names()),
            ),
        }
    }
    if let Some(accounts) = value(&raw.accounts) {
        if accounts.len() > MAX_ACCOUNTS {
            ctx.error(
                at(&raw.accounts),
                "fraud.accounts",
                format!("more than {MAX_ACCOUNTS} accounts"),
            );
        }
        let mut map = HashMap::with_capacity(accounts.len());
        for (account, class) in accounts {
            match class_index(&rules, class.value.trim()) {
                Some(i) => {
                    map.insert(account.clone(), i);
                }
                None => ctx.error(
                    Some(position(&class.referenced)),
                    &format!("fraud.accounts.{account}"),
                    format!(
                        "{:?} is not a class: expected one of {}",
                        class.value,
                        names()
                    ),
                ),
            }
        }
        rules.accounts = map;
    }
    if let Some(list) = value(&raw.emergency) {
        if list.len() > MAX_LIST {
            ctx.error(
                at(&raw.emergency),
                "fraud.emergency",
                format!("more than {MAX_LIST} entries"),
            );
        }
        rules.emergency = list
            .iter()
            .map(|e| Rules::normalize(e.value.trim()))
            .collect();
        for (i, e) in list.iter().enumerate() {
            if e.value.trim().is_empty() {
                ctx.error(
                    Some(position(&e.referenced)),
                    &format!("fraud.emergency[{i}]"),
                    "an empty number",
                );
            }
        }
    }
    rules.block_time = ctx.duration(
        &raw.block_time,
        "fraud.block_time",
        rules.block_time,
        Duration::from_secs(1),
        30 * DAY,
    );
    rules.utc_offset = utc_offset(ctx, &raw.utc_offset);
    rules.max_accounts = ctx.size(
        &raw.max_accounts,
        "fraud.max_accounts",
        rules.max_accounts,
        1,
        10_000_000,
    );

    for (i, r) in value(&raw.rules)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let k = format!("fraud.rules[{i}]");
        let r_at = Some(position(&r.referenced));
        if i >= MAX_RULES {
            ctx.error(r_at, &k, format!("more than {MAX_RULES} rules"));
            break;
        }
        let r = &r.value;
        let name = value(&r.name)
            .map(|n| n.trim().to_owned())
            .unwrap_or_default();
        if name.is_empty() {
            ctx.error(r_at, &format!("{k}.name"), "a rule needs a name");
            continue;
        }
        if rules.rules.iter().any(|x| x.name == name) {
            ctx.error(
                at(&r.name),
                &format!("{k}.name"),
                format!("{name:?} is defined twice"),
            );
            continue;
        }
        // A bad prefix is reported, and the rest of the rule still checked.
        let prefix = match value(&r.prefix).map(|p| Pattern::parse(p.trim())) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                ctx.error(at(&r.prefix), &format!("{k}.prefix"), e);
                Pattern::any()
            }
            None => {
                ctx.error(
                    r_at,
                    &format!("{k}.prefix"),
                    "a rule needs a prefix (\"_!\" for every number)",
                );
                continue;
            }
        };
        let mut window = Window::default();
        if let Some(h) = value(&r.hours) {
            match Window::parse_hours(h) {
                Ok((start, end)) => (window.start, window.end) = (start, end),
                Err(e) => ctx.error(at(&r.hours), &format!("{k}.hours"), e),
            }
        }
        if let Some(d) = value(&r.days) {
            match Window::parse_days(d) {
                Ok(days) => window.days = days,
                Err(e) => ctx.error(at(&r.days), &format!("{k}.days"), e),
            }
        }
        let rule = FraudRule {
            name,
            prefix,
            window,
            calls_per_minute: thresholds(
                ctx,
                &r.calls_per_minute,
                &format!("{k}.calls_per_minute"),
                false,
            ),
            concurrent_calls: thresholds(
                ctx,
                &r.concurrent_calls,
                &format!("{k}.concurrent_calls"),
                false,
            ),
            sequential_calls: thresholds(
                ctx,
                &r.sequential_calls,
                &format!("{k}.sequential_calls"),
                false,
            ),
            total_calls: thresholds(ctx, &r.total_calls, &format!("{k}.total_calls"), false),
            call_duration: thresholds(ctx, &r.call_duration, &format!("{k}.call_duration"), true),
        };
        rules.rules.push(rule);
    }

    FraudConfig {
        registered_only: value(&raw.registered_only).copied().unwrap_or(true),
        rules,
    }
}
