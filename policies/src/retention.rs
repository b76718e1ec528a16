//! Retention planning: for every manifest of every repository a retention rule covers, keep
//! or delete, with a [`ReasonCode`] and a sentence saying why. Pure: the caller gathers what the
//! repositories hold, what each environment runs, the legal holds and the open promotions, and
//! passes `now`; [`plan`] decides. The gateway applies the deletions in [`RetentionPlan::order`].
//!
//! The rules, in order of precedence:
//!
//! 1. **Protected, everywhere.** A digest an environment currently runs, a legal hold covers (by
//!    digest, or by a pattern over its repository), or an open promotion is moving is kept in
//!    every repository that holds it. In a repository whose deletes are switched off, everything
//!    is kept (`delete-disabled`).
//! 2. **Versions.** Tags that parse as SemVer 2.0 (a leading `v` allowed; pre-releases count, in
//!    SemVer precedence) rank the manifests they are bound to by their highest version: the
//!    newest `keep_versions` are kept, older ones deleted. A manifest bound to any other tag
//!    (`latest`, `stable`) is kept: only versions are counted.
//! 3. **Untagged.** A manifest bound to no tag (cosign's `sha256-<hex>.sig|.att|.sbom` tags name
//!    a subject, not a version, and do not count) that is neither evidence of nor listed by
//!    anything present is deleted once it was pushed `untagged_days` ago.
//! 4. **Evidence and children follow.** Evidence (a manifest with a `subject`, or one bound to a
//!    cosign digest tag) follows its subject — in its own repository when the subject is there,
//!    else wherever the subject is held — and a manifest listed by an index follows the index:
//!    kept when any of them is kept, deleted with them otherwise. This overrides rules 2 and 3, so
//!    evidence of a kept artifact and the parts of a kept index are never deleted.
//!
//! Repositories no rule covers are not planned, and everything in them counts as kept (evidence
//! there of an artifact elsewhere keeps nothing alive, but evidence elsewhere of an artifact there
//! is kept).

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_attest::Digest;

use crate::tags::digest_tag_subject;
use crate::{Pattern, ReasonCode, RepoName, Tag};

const DAY_MS: i64 = 86_400_000;

/// One `[[retention.rules]]` entry: the first rule whose pattern matches a repository applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    pub repositories: Pattern,
    /// Keep this many of the newest SemVer versions; older ones go.
    pub keep_versions: Option<usize>,
    /// Delete untagged manifests pushed at least this many days ago.
    pub untagged_days: Option<u32>,
}

/// A manifest as retention sees it.
#[derive(Debug, Clone)]
pub struct ManifestFacts {
    pub digest: Digest,
    pub tags: Vec<Tag>,
    /// The manifest's `subject` (OCI referrers).
    pub subject: Option<Digest>,
    /// The manifests an index lists.
    pub children: Vec<Digest>,
    /// When it was pushed into this repository.
    pub pushed_at_ms: i64,
}

/// Everything one repository holds.
#[derive(Debug, Clone)]
pub struct RepositoryFacts {
    pub repository: RepoName,
    /// False when the repository's rules switch deletes off: nothing there is deleted.
    pub deletes_allowed: bool,
    pub manifests: Vec<ManifestFacts>,
}

/// Where an environment runs a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub environment: String,
    pub repository: RepoName,
}

/// A legal hold: one digest, or every artifact of the repositories matching a pattern.
#[derive(Debug, Clone)]
pub struct HoldFacts {
    pub id: String,
    pub digest: Option<Digest>,
    pub repositories: Option<Pattern>,
    pub reason: String,
}

impl HoldFacts {
    fn covers(&self, repo: &RepoName, digest: &Digest) -> bool {
        self.digest.as_ref() == Some(digest)
            || self
                .repositories
                .as_ref()
                .is_some_and(|p| p.matches(repo.as_str()))
    }
}

/// What retention decides over.
#[derive(Debug, Clone, Default)]
pub struct RetentionFacts {
    /// Every repository, covered by a rule or not (the others still keep their evidence alive).
    pub repositories: Vec<RepositoryFacts>,
    /// Digests environments currently run.
    pub running: BTreeMap<Digest, Vec<Running>>,
    pub holds: Vec<HoldFacts>,
    /// Digests with an open promotion, and its ids.
    pub open_promotions: BTreeMap<Digest, Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetentionAction {
    Keep,
    Delete,
}

/// What happens to one manifest of one repository, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionDecision {
    pub repository: RepoName,
    pub digest: Digest,
    pub tags: Vec<Tag>,
    pub action: RetentionAction,
    pub reason: ReasonCode,
    pub message: String,
    /// The pattern of the rule covering the repository.
    pub rule: String,
    /// The manifest whose fate this one shares (its subject, or the index listing it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follows: Option<Digest>,
    /// Deletions (indices into [`RetentionPlan::decisions`]) that must succeed before this one
    /// may go: evidence of it, and an index listing it.
    #[serde(skip)]
    pub after: Vec<usize>,
}

/// Every decision, by repository; within one, versions newest first, then the rest newest first.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionPlan {
    pub decisions: Vec<RetentionDecision>,
    /// The deletions in a safe order: evidence before its subject, an index before its children.
    #[serde(skip)]
    pub order: Vec<usize>,
}

impl RetentionPlan {
    pub fn count(&self, action: RetentionAction) -> usize {
        self.decisions.iter().filter(|d| d.action == action).count()
    }
}

/// How a manifest depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// It is evidence of the other (subject or cosign digest tag).
    Evidence,
    /// The other is an index listing it.
    Child,
}

#[derive(Debug, Clone)]
enum State {
    Keep(ReasonCode, String),
    Delete(ReasonCode, String),
    /// Shares the fate of what it is evidence of or listed by.
    Follow,
}

struct Node<'a> {
    repo: &'a RepositoryFacts,
    m: &'a ManifestFacts,
    rule: Option<&'a RetentionRule>,
    version: Option<(semver::Version, &'a Tag)>,
}

/// A SemVer version, with an optional leading `v`.
fn version_of(tag: &Tag) -> Option<semver::Version> {
    let t = tag.as_str();
    semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()
}

fn age(ms: i64) -> String {
    let ms = ms.max(0);
    if ms >= DAY_MS {
        let d = ms / DAY_MS;
        format!("{d} day{}", if d == 1 { "" } else { "s" })
    } else if ms >= 3_600_000 {
        let h = ms / 3_600_000;
        format!("{h} hour{}", if h == 1 { "" } else { "s" })
    } else {
        let m = ms / 60_000;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    }
}

fn short(d: &Digest) -> String {
    let s = d.to_string();
    match s.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}", &hex[..12]),
        _ => s,
    }
}

/// Decides, for every manifest of every covered repository, whether it stays.
pub fn plan(rules: &[RetentionRule], facts: &RetentionFacts, now: DateTime<Utc>) -> RetentionPlan {
    let now_ms = now.timestamp_millis();
    let mut nodes: Vec<Node<'_>> = Vec::new();
    let mut in_repo: HashMap<(usize, &Digest), usize> = HashMap::new();
    let mut anywhere: HashMap<&Digest, Vec<usize>> = HashMap::new();
    let mut repo_of: Vec<usize> = Vec::new();
    for (ri, r) in facts.repositories.iter().enumerate() {
        let rule = rules
            .iter()
            .find(|x| x.repositories.matches(r.repository.as_str()));
        for m in &r.manifests {
            let n = nodes.len();
            let version = m
                .tags
                .iter()
                .filter_map(|t| version_of(t).map(|v| (v, t)))
                .max_by(|a, b| a.0.cmp(&b.0));
            nodes.push(Node {
                repo: r,
                m,
                rule,
                version,
            });
            repo_of.push(ri);
            in_repo.insert((ri, &m.digest), n);
            anywhere.entry(&m.digest).or_default().push(n);
        }
    }

    // Who depends on whom.
    let mut owners: Vec<Vec<(usize, Link)>> = vec![Vec::new(); nodes.len()];
    for (n, node) in nodes.iter().enumerate() {
        let mut subjects: Vec<Digest> = node.m.subject.iter().cloned().collect();
        subjects.extend(node.m.tags.iter().filter_map(digest_tag_subject));
        subjects.sort();
        subjects.dedup();
        for s in subjects.iter().filter(|s| **s != node.m.digest) {
            match in_repo.get(&(repo_of[n], s)) {
                Some(&o) => owners[n].push((o, Link::Evidence)),
                None => {
                    for &o in anywhere.get(s).into_iter().flatten() {
                        owners[n].push((o, Link::Evidence));
                    }
                }
            }
        }
        for c in &node.m.children {
            if let Some(&cn) = in_repo.get(&(repo_of[n], c))
                && cn != n
                && !owners[cn].contains(&(n, Link::Child))
            {
                owners[cn].push((n, Link::Child));
            }
        }
    }
    let mut dependents: Vec<Vec<(usize, Link)>> = vec![Vec::new(); nodes.len()];
    for (n, os) in owners.iter().enumerate() {
        for &(o, link) in os {
            dependents[o].push((n, link));
        }
    }

    // Version ranks per covered repository.
    let mut rank: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut newest: BTreeMap<usize, Vec<&Tag>> = BTreeMap::new();
    {
        let mut by_repo: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (n, node) in nodes.iter().enumerate() {
            if node.rule.is_some() && node.version.is_some() {
                by_repo.entry(repo_of[n]).or_default().push(n);
            }
        }
        for (ri, mut ns) in by_repo {
            ns.sort_by(|a, b| {
                let (va, vb) = (&nodes[*a].version, &nodes[*b].version);
                vb.as_ref()
                    .map(|v| &v.0)
                    .cmp(&va.as_ref().map(|v| &v.0))
                    .then_with(|| nodes[*a].m.digest.cmp(&nodes[*b].m.digest))
            });
            let keep = nodes[ns[0]].rule.and_then(|r| r.keep_versions).unwrap_or(0);
            newest.insert(
                ri,
                ns.iter()
                    .take(keep)
                    .filter_map(|n| nodes[*n].version.as_ref().map(|v| v.1))
                    .collect(),
            );
            for (i, n) in ns.into_iter().enumerate() {
                rank[n] = Some(i);
            }
        }
    }

    // Each manifest on its own.
    let mut state: Vec<State> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            base_state(
                node,
                rank[n],
                newest.get(&repo_of[n]).map_or(&[][..], Vec::as_slice),
                !owners[n].is_empty(),
                facts,
                now_ms,
            )
        })
        .collect();
    let mut follows: Vec<Option<usize>> = vec![None; nodes.len()];

    // What is kept keeps its evidence and its children.
    let mut queue: VecDeque<usize> = (0..nodes.len())
        .filter(|n| matches!(state[*n], State::Keep(..)))
        .collect();
    while let Some(k) = queue.pop_front() {
        for &(j, link) in &dependents[k] {
            if matches!(state[j], State::Keep(..)) {
                continue;
            }
            let kept = &nodes[k];
            let elsewhere = if repo_of[k] == repo_of[j] {
                String::new()
            } else {
                format!(" in {}", kept.repo.repository)
            };
            state[j] = match link {
                Link::Evidence => State::Keep(
                    ReasonCode::RetentionEvidenceOfKept,
                    format!(
                        "evidence of {}{elsewhere}, which is kept",
                        short(&kept.m.digest)
                    ),
                ),
                Link::Child => State::Keep(
                    ReasonCode::RetentionChildOfKept,
                    format!("listed by index {}, which is kept", short(&kept.m.digest)),
                ),
            };
            follows[j] = Some(k);
            queue.push_back(j);
        }
    }
    // The rest follows what it depends on out.
    for n in 0..nodes.len() {
        if let State::Follow = state[n] {
            let (o, link) = owners[n][0];
            let owner = &nodes[o];
            let elsewhere = if repo_of[o] == repo_of[n] {
                String::new()
            } else {
                format!(" in {}", owner.repo.repository)
            };
            state[n] = match link {
                Link::Evidence => State::Delete(
                    ReasonCode::RetentionEvidenceOfDeleted,
                    format!(
                        "evidence of {}{elsewhere}, which is deleted",
                        short(&owner.m.digest)
                    ),
                ),
                Link::Child => State::Delete(
                    ReasonCode::RetentionChildOfDeleted,
                    format!(
                        "untagged, listed only by index {}, which is deleted",
                        short(&owner.m.digest)
                    ),
                ),
            };
            follows[n] = Some(o);
        }
    }

    // Decisions for covered repositories, in reading order.
    let mut covered: Vec<usize> = (0..nodes.len())
        .filter(|n| nodes[*n].rule.is_some())
        .collect();
    covered.sort_by(|a, b| {
        let (x, y) = (&nodes[*a], &nodes[*b]);
        x.repo
            .repository
            .cmp(&y.repo.repository)
            .then_with(|| {
                y.version
                    .as_ref()
                    .map(|v| &v.0)
                    .cmp(&x.version.as_ref().map(|v| &v.0))
            })
            .then_with(|| y.m.pushed_at_ms.cmp(&x.m.pushed_at_ms))
            .then_with(|| x.m.digest.cmp(&y.m.digest))
    });
    let position: HashMap<usize, usize> =
        covered.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut decisions: Vec<RetentionDecision> = covered
        .iter()
        .map(|&n| {
            let node = &nodes[n];
            let (action, reason, message) = match &state[n] {
                State::Keep(r, m) => (RetentionAction::Keep, *r, m.clone()),
                State::Delete(r, m) => (RetentionAction::Delete, *r, m.clone()),
                State::Follow => unreachable!("every follower was settled"),
            };
            RetentionDecision {
                repository: node.repo.repository.clone(),
                digest: node.m.digest.clone(),
                tags: node.m.tags.clone(),
                action,
                reason,
                message,
                rule: node
                    .rule
                    .map(|r| r.repositories.to_string())
                    .unwrap_or_default(),
                follows: follows[n].map(|o| nodes[o].m.digest.clone()),
                after: Vec::new(),
            }
        })
        .collect();

    // Deletion order: evidence before its subject, an index before what it lists.
    let deleted = |n: usize| {
        position
            .get(&n)
            .is_some_and(|i| decisions[*i].action == RetentionAction::Delete)
    };
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); decisions.len()];
    for &n in &covered {
        if !deleted(n) {
            continue;
        }
        for &(o, link) in &owners[n] {
            if !deleted(o) {
                continue;
            }
            let (first, then) = match link {
                Link::Evidence => (n, o),
                Link::Child => (o, n),
            };
            let (f, t) = (position[&first], position[&then]);
            if !after[t].contains(&f) {
                after[t].push(f);
            }
        }
    }
    let order = topological(&decisions, &after);
    for (d, a) in decisions.iter_mut().zip(after) {
        d.after = a;
    }
    RetentionPlan { decisions, order }
}

/// The deletions, each after those it must follow (Kahn's algorithm; a cycle, which content
/// addressing rules out but tags could fake, is appended in plan order).
fn topological(decisions: &[RetentionDecision], after: &[Vec<usize>]) -> Vec<usize> {
    let del: Vec<usize> = (0..decisions.len())
        .filter(|i| decisions[*i].action == RetentionAction::Delete)
        .collect();
    let mut pending: HashMap<usize, usize> = del.iter().map(|i| (*i, after[*i].len())).collect();
    let mut next: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in &del {
        for &f in &after[i] {
            next.entry(f).or_default().push(i);
        }
    }
    let mut ready: VecDeque<usize> = del.iter().copied().filter(|i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(del.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &j in next.get(&i).into_iter().flatten() {
            if let Some(p) = pending.get_mut(&j) {
                *p -= 1;
                if *p == 0 {
                    ready.push_back(j);
                }
            }
        }
    }
    if order.len() < del.len() {
        for i in del {
            if !order.contains(&i) {
                order.push(i);
            }
        }
    }
    order
}

fn base_state(
    node: &Node<'_>,
    rank: Option<usize>,
    newest: &[&Tag],
    has_owners: bool,
    facts: &RetentionFacts,
    now_ms: i64,
) -> State {
    let repo = &node.repo.repository;
    let d = &node.m.digest;
    let Some(rule) = node.rule else {
        return State::Keep(ReasonCode::RetentionNotCovered, String::new());
    };
    if let Some(r) = facts.running.get(d).filter(|r| !r.is_empty()) {
        let places: Vec<String> = r
            .iter()
            .map(|x| format!("{} ({})", x.environment, x.repository))
            .collect();
        return State::Keep(
            ReasonCode::RetentionRunning,
            format!("currently running in {}", places.join(", ")),
        );
    }
    if let Some(h) = facts.holds.iter().find(|h| h.covers(repo, d)) {
        let what = match (&h.digest, &h.repositories) {
            (Some(_), _) => "this digest".to_string(),
            (None, Some(p)) => format!("repositories {p}"),
            (None, None) => "it".to_string(),
        };
        return State::Keep(
            ReasonCode::RetentionHeld,
            format!("legal hold {} on {what}: {}", h.id, h.reason),
        );
    }
    if let Some(ids) = facts.open_promotions.get(d).filter(|p| !p.is_empty()) {
        return State::Keep(
            ReasonCode::RetentionPromotionOpen,
            format!("promotion {} is still open", ids.join(", ")),
        );
    }
    if !node.repo.deletes_allowed {
        return State::Keep(
            ReasonCode::DeleteDisabled,
            format!("deletes are disabled for {repo}"),
        );
    }
    let other: Vec<&Tag> = node
        .m
        .tags
        .iter()
        .filter(|t| digest_tag_subject(t).is_none() && version_of(t).is_none())
        .collect();
    let other_kept = || {
        let names: Vec<&str> = other.iter().map(|t| t.as_str()).collect();
        State::Keep(
            ReasonCode::RetentionTagNotSemver,
            format!(
                "tag {} is not a SemVer version; only versions are counted",
                names.join(", ")
            ),
        )
    };
    if let Some((_, tag)) = &node.version {
        return match (rule.keep_versions, rank) {
            (Some(k), Some(i)) if i < k => State::Keep(
                ReasonCode::RetentionKeepLatest,
                format!("{tag} is one of the newest {k} versions"),
            ),
            (Some(k), _) if !other.is_empty() => {
                let State::Keep(code, msg) = other_kept() else {
                    unreachable!()
                };
                State::Keep(
                    code,
                    format!("{tag} is older than the newest {k} versions, but {msg}"),
                )
            }
            (Some(k), _) => {
                let names: Vec<&str> = newest.iter().map(|t| t.as_str()).collect();
                State::Delete(
                    ReasonCode::RetentionBeyondLatest,
                    format!(
                        "{tag} is older than the newest {k} versions ({})",
                        names.join(", ")
                    ),
                )
            }
            (None, _) if !other.is_empty() => other_kept(),
            (None, _) => State::Keep(
                ReasonCode::RetentionNotCovered,
                format!("the rule for {} sets no keep_versions", rule.repositories),
            ),
        };
    }
    if !other.is_empty() {
        return other_kept();
    }
    if has_owners {
        return State::Follow;
    }
    let orphan = node
        .m
        .subject
        .iter()
        .cloned()
        .chain(node.m.tags.iter().filter_map(digest_tag_subject))
        .next()
        .map(|s| format!(" (evidence of {}, which no repository holds)", short(&s)))
        .unwrap_or_default();
    let pushed = now_ms - node.m.pushed_at_ms;
    match rule.untagged_days {
        Some(days) if pushed >= i64::from(days) * DAY_MS => State::Delete(
            ReasonCode::RetentionUntaggedExpired,
            format!(
                "untagged{orphan}, pushed {} ago; untagged manifests go after {days} days",
                age(pushed)
            ),
        ),
        Some(days) => State::Keep(
            ReasonCode::RetentionUntaggedRecent,
            format!(
                "untagged{orphan}, pushed {} ago; untagged manifests go after {days} days",
                age(pushed)
            ),
        ),
        None => State::Keep(
            ReasonCode::RetentionNotCovered,
            format!(
                "untagged{orphan}, and the rule for {} sets no untagged_days",
                rule.repositories
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
