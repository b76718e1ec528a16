//! [`PromotionStore`] over any [`Kv`] backend.

use tollgate_attest::Digest;
use tollgate_policies::RepoName;

use super::kv_store::{KvStore, corrupt, encode, key2, key3, last_part};
use super::{Kv, KvRead, KvWrite, Table};
use crate::{
    BundleRecord, HoldRecord, Opened, PolicyLoadRecord, PromotedEntry, PromotionFilter,
    PromotionRecord, PromotionState, PromotionStore, Result, StoreError, VerificationRecord,
};

const NEXT_PROMOTION: &str = "next_promotion";
const NEXT_HOLD: &str = "next_hold";
const NEXT_POLICY_LOAD: &str = "next_policy_load";
const NEXT_VERIFICATION: &str = "next_verification";
/// Set once `PromotionsByArtifact` covers every promotion (new stores start with it).
pub(super) const BY_ARTIFACT_KEY: &str = "index_promotions_by_artifact";

/// Builds the by-artifact index of a store written before it existed.
pub(super) fn backfill_by_artifact(w: &mut dyn KvWrite) -> Result<()> {
    if w.get(Table::Meta, BY_ARTIFACT_KEY)?.is_some() {
        return Ok(());
    }
    for (id, v) in w.scan(Table::Promotions, "", None, usize::MAX)? {
        let p: PromotionRecord = decode("promotion", &v)?;
        w.put(
            Table::PromotionsByArtifact,
            &key2(&p.artifact.to_string(), &id),
            b"",
        )?;
    }
    w.put(Table::Meta, BY_ARTIFACT_KEY, b"")
}

/// Newest first: by the sequence number after `prm-`.
fn newest_first(ids: &mut [String]) {
    let seq = |id: &str| {
        id.trim_start_matches("prm-")
            .parse::<u64>()
            .unwrap_or(u64::MAX)
    };
    ids.sort_unstable_by_key(|id| std::cmp::Reverse(seq(id)));
}

/// Takes the next number of a counter kept in the meta table.
fn next(w: &mut dyn KvWrite, counter: &str) -> Result<u64> {
    let n = match w.get(Table::Meta, counter)? {
        Some(v) => u64::from_le_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt(counter.into()))?,
        ),
        None => 0,
    } + 1;
    w.put(Table::Meta, counter, &n.to_le_bytes())?;
    Ok(n)
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(corrupt(what))
}

fn get_in(r: &dyn KvRead, id: &str) -> Result<Option<PromotionRecord>> {
    r.get(Table::Promotions, id)?
        .map(|v| decode("promotion", &v))
        .transpose()
}

/// Stores `rec` at the next revision if the stored one is still at `rec.revision`, keeping
/// the open-promotion indexes in step with its state.
fn replace(w: &mut dyn KvWrite, rec: &PromotionRecord) -> Result<PromotionRecord> {
    let stored = get_in(w, &rec.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("no promotion {}", rec.id)))?;
    if stored.revision != rec.revision {
        return Err(StoreError::Conflict(format!(
            "promotion {} changed since it was read (revision {} → {})",
            rec.id, rec.revision, stored.revision
        )));
    }
    let mut new = rec.clone();
    new.revision += 1;
    w.put(Table::Promotions, &new.id, &encode(&new)?)?;
    let open_key = key2(&new.artifact.to_string(), &new.target_environment);
    let flight_key = key2(&new.target_environment, &new.id);
    if new.state.is_open() {
        w.put(Table::OpenPromotions, &open_key, new.id.as_bytes())?;
        w.put(Table::InFlight, &flight_key, b"")?;
    } else {
        // Only drop the index entry if it is ours: a bundle may hold another one.
        if w.get(Table::OpenPromotions, &open_key)?.as_deref() == Some(new.id.as_bytes()) {
            w.delete(Table::OpenPromotions, &open_key)?;
        }
        w.delete(Table::InFlight, &flight_key)?;
    }
    Ok(new)
}

fn matches(f: &PromotionFilter, p: &PromotionRecord) -> bool {
    f.artifact.as_ref().is_none_or(|d| *d == p.artifact)
        && f.environment
            .as_deref()
            .is_none_or(|e| e == p.target_environment)
        && f.state.is_none_or(|s| s == p.state)
        && f.bundle
            .as_deref()
            .is_none_or(|b| p.bundle.as_deref() == Some(b))
        && (!f.open_postmortems
            || p.postmortem
                .as_ref()
                .is_some_and(|m| m.closed_at_ms.is_none()))
}

impl<K: Kv> PromotionStore for KvStore<K> {
    fn open_promotion(&self, rec: &PromotionRecord) -> Result<Opened> {
        let open_key = key2(&rec.artifact.to_string(), &rec.target_environment);
        self.kv.write(|w| {
            if let Some(id) = w.get(Table::OpenPromotions, &open_key)? {
                let id = String::from_utf8(id).map_err(corrupt("promotion id"))?;
                if let Some(existing) = get_in(w, &id)? {
                    return Ok(Opened::Existing(existing));
                }
            }
            // Already promoted there: that promotion, unless this is a deliberate return to
            // it (a rollback re-promotes an artifact the environment held before).
            if !rec.rollback
                && let Some(v) = w.get(
                    Table::Promoted,
                    &key3(
                        &rec.target_environment,
                        &rec.artifact.to_string(),
                        rec.target_repository.as_str(),
                    ),
                )?
            {
                let entry: PromotedEntry = decode("promoted entry", &v)?;
                if let Some(done) = get_in(w, &entry.promotion)? {
                    return Ok(Opened::Existing(done));
                }
            }
            let mut new = rec.clone();
            new.id = format!("prm-{:06}", next(w, NEXT_PROMOTION)?);
            new.revision = 1;
            w.put(Table::Promotions, &new.id, &encode(&new)?)?;
            w.put(
                Table::PromotionsByArtifact,
                &key2(&new.artifact.to_string(), &new.id),
                b"",
            )?;
            if new.state.is_open() {
                w.put(Table::OpenPromotions, &open_key, new.id.as_bytes())?;
                w.put(
                    Table::InFlight,
                    &key2(&new.target_environment, &new.id),
                    b"",
                )?;
            }
            Ok(Opened::Created(new))
        })
    }

    fn get_promotion(&self, id: &str) -> Result<Option<PromotionRecord>> {
        self.kv.read(|r| get_in(r, id))
    }

    fn update_promotion(&self, rec: &PromotionRecord) -> Result<PromotionRecord> {
        self.kv.write(|w| replace(w, rec))
    }

    fn complete_promotion(
        &self,
        rec: &PromotionRecord,
        entry: &PromotedEntry,
    ) -> Result<PromotionRecord> {
        let mut done = self.complete_promotions(&[(rec.clone(), entry.clone())])?;
        done.pop()
            .ok_or_else(|| StoreError::Backend("no promotion completed".into()))
    }

    fn complete_promotions(
        &self,
        done: &[(PromotionRecord, PromotedEntry)],
    ) -> Result<Vec<PromotionRecord>> {
        self.kv.write(|w| {
            let mut out = Vec::with_capacity(done.len());
            for (rec, entry) in done {
                let mut next = rec.clone();
                next.state = PromotionState::Promoted;
                out.push(replace(w, &next)?);
                let env = entry.environment.as_str();
                let digest = entry.digest.to_string();
                let value = encode(entry)?;
                w.put(
                    Table::Promoted,
                    &key3(env, &digest, entry.repository.as_str()),
                    &value,
                )?;
                w.put(Table::PromotedByDigest, &key2(&digest, env), b"")?;
                w.put(
                    Table::CurrentVersions,
                    &key2(env, entry.repository.as_str()),
                    &value,
                )?;
                let repo = entry.repository.as_str();
                w.put(Table::Servable, &key3(env, repo, &digest), b"")?;
                for d in &entry.contents {
                    w.put(Table::Servable, &key3(env, repo, &d.to_string()), b"")?;
                }
            }
            Ok(out)
        })
    }

    fn allow_served(
        &self,
        environment: &str,
        repository: &RepoName,
        digests: &[Digest],
    ) -> Result<()> {
        self.kv.write(|w| {
            for d in digests {
                w.put(
                    Table::Servable,
                    &key3(environment, repository.as_str(), &d.to_string()),
                    b"",
                )?;
            }
            Ok(())
        })
    }

    fn is_served(&self, environment: &str, repository: &RepoName, digest: &Digest) -> Result<bool> {
        Ok(self
            .kv
            .get(
                Table::Servable,
                &key3(environment, repository.as_str(), &digest.to_string()),
            )?
            .is_some())
    }

    fn put_bundle(&self, bundle: &BundleRecord) -> Result<(BundleRecord, bool)> {
        self.kv.write(|w| {
            if let Some(v) = w.get(Table::Bundles, &bundle.id)? {
                return Ok((decode("bundle", &v)?, false));
            }
            w.put(Table::Bundles, &bundle.id, &encode(bundle)?)?;
            Ok((bundle.clone(), true))
        })
    }

    fn get_bundle(&self, id: &str) -> Result<Option<BundleRecord>> {
        self.kv.read(|r| {
            r.get(Table::Bundles, id)?
                .map(|v| decode("bundle", &v))
                .transpose()
        })
    }

    fn list_bundles(&self) -> Result<Vec<BundleRecord>> {
        self.kv.read(|r| {
            r.scan(Table::Bundles, "", None, usize::MAX)?
                .iter()
                .map(|(_, v)| decode("bundle", v))
                .collect()
        })
    }

    fn list_promotions(
        &self,
        filter: &PromotionFilter,
        limit: usize,
    ) -> Result<Vec<PromotionRecord>> {
        self.kv.read(|r| {
            let mut out = Vec::new();
            // Open states (pending, scheduled, …) are few and indexed, and so is one artifact's
            // history: read those promotions only, not the whole history (the scheduler asks
            // every few seconds).
            let index = if filter.state.is_some_and(PromotionState::is_open) {
                Some((
                    Table::InFlight,
                    match &filter.environment {
                        Some(env) => key2(env, ""),
                        None => String::new(),
                    },
                ))
            } else {
                filter
                    .artifact
                    .as_ref()
                    .map(|d| (Table::PromotionsByArtifact, key2(&d.to_string(), "")))
            };
            if let Some((table, prefix)) = index {
                let mut ids: Vec<String> = r
                    .scan(table, &prefix, None, usize::MAX)?
                    .into_iter()
                    .map(|(k, _)| last_part(&k).to_string())
                    .collect();
                newest_first(&mut ids);
                for id in ids {
                    if let Some(p) = get_in(r, &id)?
                        && matches(filter, &p)
                    {
                        out.push(p);
                        if out.len() == limit {
                            break;
                        }
                    }
                }
                return Ok(out);
            }
            // Ids are sequential, so key order is age order; newest first means from the end.
            for (_, v) in r
                .scan(Table::Promotions, "", None, usize::MAX)?
                .iter()
                .rev()
            {
                let p: PromotionRecord = decode("promotion", v)?;
                if matches(filter, &p) {
                    out.push(p);
                    if out.len() == limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    fn in_flight(&self, environment: &str) -> Result<usize> {
        self.kv.read(|r| {
            Ok(
                r.scan(Table::InFlight, &key2(environment, ""), None, usize::MAX)?
                    .len(),
            )
        })
    }

    fn promoted(&self, environment: &str, digest: &Digest) -> Result<Option<PromotedEntry>> {
        let prefix = key3(environment, &digest.to_string(), "");
        self.kv.read(|r| {
            r.scan(Table::Promoted, &prefix, None, 1)?
                .first()
                .map(|(_, v)| decode("promoted entry", v))
                .transpose()
        })
    }

    fn is_promoted(&self, environment: &str, digest: &Digest) -> Result<bool> {
        self.kv
            .any_with_prefix(Table::Promoted, &key3(environment, &digest.to_string(), ""))
    }

    fn promotions_of(&self, digest: &Digest) -> Result<Vec<PromotedEntry>> {
        let d = digest.to_string();
        self.kv.read(|r| {
            let mut out = Vec::new();
            for (k, _) in r.scan(Table::PromotedByDigest, &key2(&d, ""), None, usize::MAX)? {
                let env = super::kv_store::last_part(&k);
                for (_, v) in r.scan(Table::Promoted, &key3(env, &d, ""), None, usize::MAX)? {
                    out.push(decode("promoted entry", &v)?);
                }
            }
            Ok(out)
        })
    }

    fn current(&self, environment: &str, repository: &RepoName) -> Result<Option<PromotedEntry>> {
        self.kv.read(|r| {
            r.get(
                Table::CurrentVersions,
                &key2(environment, repository.as_str()),
            )?
            .map(|v| decode("promoted entry", &v))
            .transpose()
        })
    }

    fn current_all(&self, environment: &str) -> Result<Vec<PromotedEntry>> {
        self.kv.read(|r| {
            r.scan(
                Table::CurrentVersions,
                &key2(environment, ""),
                None,
                usize::MAX,
            )?
            .iter()
            .map(|(_, v)| decode("promoted entry", v))
            .collect()
        })
    }

    fn put_hold(&self, hold: &HoldRecord) -> Result<HoldRecord> {
        self.kv.write(|w| {
            let mut new = hold.clone();
            new.id = format!("hold-{:06}", next(w, NEXT_HOLD)?);
            w.put(Table::Holds, &new.id, &encode(&new)?)?;
            Ok(new)
        })
    }

    fn delete_hold(&self, id: &str) -> Result<bool> {
        self.kv.write(|w| w.delete(Table::Holds, id))
    }

    fn holds(&self) -> Result<Vec<HoldRecord>> {
        self.kv.read(|r| {
            r.scan(Table::Holds, "", None, usize::MAX)?
                .iter()
                .map(|(_, v)| decode("hold", v))
                .collect()
        })
    }

    fn add_verification(&self, rec: &VerificationRecord) -> Result<VerificationRecord> {
        self.kv.write(|w| {
            let n = next(w, NEXT_VERIFICATION)?;
            let mut new = rec.clone();
            new.id = format!("ver-{n:06}");
            w.put(
                Table::Verifications,
                &key3(
                    &new.artifact.to_string(),
                    &new.environment,
                    &format!("{n:020}"),
                ),
                &encode(&new)?,
            )?;
            Ok(new)
        })
    }

    fn verifications(
        &self,
        digest: &Digest,
        environment: Option<&str>,
    ) -> Result<Vec<VerificationRecord>> {
        let prefix = match environment {
            Some(e) => key3(&digest.to_string(), e, ""),
            None => key2(&digest.to_string(), ""),
        };
        let mut out: Vec<VerificationRecord> = self.kv.read(|r| {
            r.scan(Table::Verifications, &prefix, None, usize::MAX)?
                .iter()
                .map(|(_, v)| decode("verification", v))
                .collect::<Result<_>>()
        })?;
        // Oldest first across environments; the sequence orders results of one millisecond.
        out.sort_by_key(|v| {
            (
                v.at_ms,
                v.id.trim_start_matches("ver-").parse::<u64>().unwrap_or(0),
            )
        });
        Ok(out)
    }

    fn record_policy_load(&self, rec: &PolicyLoadRecord) -> Result<()> {
        self.kv.write(|w| {
            let n = next(w, NEXT_POLICY_LOAD)?;
            w.put(Table::PolicyLoads, &format!("{n:020}"), &encode(rec)?)
        })
    }

    fn policy_loads(&self, limit: usize) -> Result<Vec<PolicyLoadRecord>> {
        self.kv.read(|r| {
            r.scan(Table::PolicyLoads, "", None, usize::MAX)?
                .iter()
                .rev()
                .take(limit)
                .map(|(_, v)| decode("policy load", v))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStore, PromotionFilter};

    fn rec(d: &Digest, env: &str) -> PromotionRecord {
        let mut p: PromotionRecord = serde_json::from_value(serde_json::json!({
            "id": "", "revision": 0, "artifact": d, "source_repository": "staging/app",
            "target_environment": env, "target_repository": format!("{env}/app"),
            "requested_by": "ci", "state": "pending", "decision": null,
            "created_at_ms": 1, "updated_at_ms": 1,
        }))
        .unwrap();
        p.id.clear();
        p
    }

    /// A store written before the by-artifact index existed gets it built on open.
    #[test]
    fn the_by_artifact_index_is_backfilled_once() {
        let s = MemoryStore::new();
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        for (d, env) in [(&a, "staging"), (&b, "staging"), (&a, "prod")] {
            s.open_promotion(&rec(d, env)).unwrap();
        }
        let of = |d: &Digest| -> Vec<String> {
            s.list_promotions(
                &PromotionFilter {
                    artifact: Some(d.clone()),
                    ..PromotionFilter::default()
                },
                10,
            )
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect()
        };
        assert_eq!(of(&a), ["prm-000003", "prm-000001"]);
        // Make it an older store: no index, no flag.
        s.kv.write(|w| {
            for (k, _) in w.scan(Table::PromotionsByArtifact, "", None, usize::MAX)? {
                w.delete(Table::PromotionsByArtifact, &k)?;
            }
            w.delete(Table::Meta, BY_ARTIFACT_KEY)
        })
        .unwrap();
        assert!(of(&a).is_empty(), "listing reads the index");
        s.kv.write(|w| backfill_by_artifact(w)).unwrap();
        assert_eq!(of(&a), ["prm-000003", "prm-000001"]);
        assert_eq!(of(&b), ["prm-000002"]);
    }
}
