//! Deactivation (DESIGN.md, steps 1 to 4) and the cleanup of an activation that stopped before
//! its snapshot: only what the journal says was added is taken back.

use super::*;
use crate::history::{self, Outage};

/// Deactivation (DESIGN.md, steps 1 to 4). `forced`: by hand, so step 1 (the primary is
/// back) only earns a warning when it does not hold.
pub fn deactivate(sys: &mut System, obs: &Observed, forced: bool) -> Result<Outcome, Error> {
    let started_ms = sys.boottime_ms();
    let c = sys.cfg;

    // 1. The primary is back (the tick has just seen it pass for the failback wait).
    if forced {
        if let Ok(Err(why)) = sys.primary_round(obs) {
            tell(sys, News::DeactivatingAnyway(&why));
        }
    }
    // From here on, a run killed part-way is finished by the next one, whatever the
    // primary does meanwhile.
    let mut record = sys.record().clone();
    // The outage's last bytes, before its path is left.
    let target = record.mode.target;
    steps::count_traffic(sys, &mut record, target);
    record.deactivation_begun();
    sys.write_record(&record)?;

    // 2. In main and each managed table, the saved routes go back before ours go, so no
    //    table is ever without a default.
    let backup_gw = obs.backup_gw.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let ours = Ours { cfg: c, backup_gw, primary_gw: obs.primary_gw, over_budget: false };
    let ours_in_main = footprint_in_main(&obs.routes, c);
    // Our default in main means activation journaled and snapshotted first: without
    // either file (lost, or set aside as corrupt), the shapes tell what is ours and the
    // primary what to put back.
    let journal_lost = sys.journal().is_empty() && ours_in_main;
    let snapshot_lost = obs.snapshot.is_none() && ours_in_main;
    let owned: Vec<Owned> = if journal_lost {
        tell(sys, News::StateLost);
        let seen = routes_to_every_vps(sys, &obs.routes)?;
        inferred_owned(&seen, &obs.rules, &ours)
    } else {
        sys.journal().to_vec()
    };
    let owned_defaults: Vec<Route> = owned_routes(&owned).into_iter().filter(Route::is_default).collect();
    // Both families' tables: the snapshot's, main, and any where a default of ours is.
    // (A sorted list rather than a set: BTreeSet<(bool, u32)> was 3.9 KB of the mipsel binary.)
    let mut tables: Vec<(bool, u32)> = obs.snapshot.as_ref().map_or_else(Vec::new, |s| {
        s.tables.iter().map(|t| (false, *t)).chain(s.tables6.iter().map(|t| (true, *t))).collect()
    });
    tables.push((false, RT_TABLE_MAIN));
    tables.extend(owned_defaults.iter().map(|r| (r.is_v6(), r.table)));
    tables.sort();
    tables.dedup();
    let (mut failures, failures6) = restore_tables(sys, obs, &ours, &tables, &owned_defaults, snapshot_lost);

    // A table that could not get its routes back keeps our default, and so keeps the
    // rules, the endpoint route and WG_IFACE up that make it work: step 3 waits.
    if !failures.is_empty() {
        return give_up_deactivation(sys, record, &failures);
    }

    // 3. The rest of what activation changed, newest first: rules (deleted only when the
    //    kernel would delete ours, not a user's at the same priority), the endpoint
    //    route, the peer's settings, WG_IFACE's administrative state.
    for step in undo_plan(&owned, &obs.routes, &obs.rules, Undoer::Deactivation) {
        if let Err(e) = take_back(sys, &step) {
            failures.push(e.to_string());
        }
    }
    if !failures.is_empty() {
        return give_up_deactivation(sys, record, &failures);
    }
    if !failures6.is_empty() {
        tell(sys, News::Ipv6NotRestored(&failures6));
    }
    // The flows the switch breaks (CONNTRACK_FLUSH): those opened on the path left.
    let flows = conntrack::after_switch(sys, record.mode.target.into(), Path::Primary);

    // 4. Normal again: recorded first (still marked as deactivating, so that a run
    //    killed from here on finishes the job rather than judge the tables anew), then the
    //    journal and the snapshot go, then the mark.
    let ms = sys.elapsed_ms(started_ms);
    let (now_unix_s, now_boot_s) = (sys.wall_now().as_secs(), sys.boottime_s());
    // Its length in boot time (NTP may have set the wall clock during the outage), and its
    // start the wall clock's end less that length: the best known now.
    let lasted_s = record.outage_so_far_s(now_unix_s, now_boot_s);
    let outage = Outage {
        start_unix_s: now_unix_s.saturating_sub(lasted_s),
        end_unix_s: now_unix_s,
        target: record.outage.target().to_string(),
        bytes: record.traffic.total(),
        reason: record.outage.reason.clone(),
        budget_bytes: history::budget_share(&record, sys.cfg.backup_budget_mb.is_some()),
    };
    // Its open line's key: the activation's wall clock.
    let opened_unix_s = record.mode.since_unix_s;
    record.deactivated(now_unix_s, ms, now_boot_s, sys.boot_id());
    sys.write_record(&record)?;
    sys.forget_changes(true)?;
    record.deactivation_finished();
    sys.write_record(&record)?;
    remember_outage(sys, &outage, opened_unix_s);
    let numbers: BTreeSet<u32> = tables.iter().map(|(_, t)| *t).collect();
    let traffic = record.traffic;
    sys.outage_bytes = Some(traffic.total());
    let done = News::Deactivated { ms, flows, forced, wait_s: record.failback.up_after_s, traffic };
    tell_tables(sys, done, Some(ms), &numbers);
    Ok(Outcome::Deactivated { ms })
}

/// HISTORY_FILE: the outage that ended, one line in place of its open line (the one
/// that began at `opened_unix_s`), written now and never per tick. Only a help to the
/// owner: a write that fails is told, never a failed failback.
fn remember_outage(sys: &mut System, outage: &Outage, opened_unix_s: u64) {
    let Some(path) = &sys.cfg.history_file else { return };
    if sys.dry_run {
        sys.changes.push(format!("# history: {}", outage.line().trim_end()));
        return;
    }
    if let Err(e) = history::put(path, sys.cfg.history_max_kb, opened_unix_s, &outage.line()) {
        tell(sys, News::HistoryNotWritten { path, in_progress: false, error: &e });
    }
}

/// Step 2 for each table of `tables` (family, number): the saved routes go back before
/// ours (`owned_defaults`) go, so no table is ever without a default. Returns what
/// failed: what holds the failback up, and IPv6's saved routes the kernel refused, which
/// are told but never hold up IPv4's failback (its tables keep the kernel's
/// router-advertisement defaults, which were never taken away).
fn restore_tables(
    sys: &mut System,
    obs: &Observed,
    ours: &Ours,
    tables: &[(bool, u32)],
    owned_defaults: &[Route],
    snapshot_lost: bool,
) -> (Vec<String>, Vec<String>) {
    let (mut failures, mut failures6) = (Vec::new(), Vec::new());
    for &(v6, table) in tables {
        let current: Vec<Route> = defaults_of(&obs.routes, v6, table).cloned().collect();
        let mine: Vec<Route> = owned_defaults.iter().filter(|r| r.table == table && r.is_v6() == v6).cloned().collect();
        let saved = saved_defaults(v6, table, obs.snapshot.as_ref(), snapshot_lost, &current, &mine, ours);
        let (saved, gone) = restorable(saved, &sys.links);
        for r in &gone {
            tell(sys, News::NotRestoring(r));
        }
        // An IPv4 table whose saved routes cannot be put back keeps our default, whether
        // the kernel refuses them or they went with their device (one that vanished since
        // the primary was judged back: a new outage, judged afresh the next round).
        // `carried`: another default is there, or one is put back, or the table had none
        // (or none of ours is there to keep). IPv6 never holds IPv4 up (see above).
        let mut restored = true;
        let ours_there = current.iter().any(|r| mine.contains(r));
        let others = current.iter().any(|r| !mine.contains(r));
        let mut carried = v6 || !ours_there || others || (saved.is_empty() && gone.is_empty());
        let plan = restore_table(&current, &saved, &mine);
        // Deletions before the first addition make room for it (a saved route of our key).
        let first_add = plan.iter().position(|c| matches!(c, Change::AddRoute(..))).unwrap_or(0);
        for (i, change) in plan.into_iter().enumerate() {
            let last_defaults = i >= first_add && !carried;
            if matches!(change, Change::DelRoute(_)) && (!restored || last_defaults) {
                continue;
            }
            let done = sys.apply(&change);
            carried |= done.is_ok() && matches!(change, Change::AddRoute(..));
            if let Err(e) = done {
                // An IPv6 saved route the kernel refuses is told, not waited for; one of
                // ours that cannot be deleted holds the failback up whatever its family
                // (left behind, it would read as the failsafe still on).
                let refused_saved = matches!(change, Change::AddRoute(..));
                restored &= v6 || !refused_saved;
                if v6 && refused_saved { &mut failures6 } else { &mut failures }.push(e.to_string());
            }
        }
        if restored && !carried {
            failures.push(format!("table {table} keeps the failsafe's default: none of its own could be put back"));
        }
    }
    (failures, failures6)
}

/// A deactivation that could not finish: not a crash, so the next round judges afresh
/// (re-asserting if the primary is down again) instead of insisting on it.
fn give_up_deactivation(sys: &mut System, mut record: state::Record, failures: &[String]) -> Result<Outcome, Error> {
    record.deactivation_given_up();
    sys.write_record(&record)?;
    let news = News::DeactivationIncomplete(failures);
    tell(sys, news);
    Err(Error::Failed(news.reason(sys.cfg)))
}

/// Takes back everything in the journal (an activation that did not get as far as its
/// snapshot) while the failsafe is off.
pub fn cleanup(sys: &mut System) -> Result<Outcome, Error> {
    let items = sys.journal().to_vec();
    let rules = if items.iter().any(|o| matches!(o, Owned::Rule(_))) { sys.rules()? } else { Vec::new() };
    let default = |o: &Owned| matches!(o, Owned::Route(r) if r.is_default());
    let routes = if items.iter().any(default) { sys.routes()? } else { Vec::new() };
    for step in undo_plan(&items, &routes, &rules, Undoer::Cleanup) {
        take_back(sys, &step)?;
    }
    sys.forget_changes(false)?;
    if !items.is_empty() {
        tell(sys, News::TookBack(items.len()));
    }
    Ok(Outcome::CleanedUp)
}

/// One step of taking the journal back: made, or what is left in place told.
fn take_back(sys: &mut System, step: &Undo) -> Result<(), Error> {
    match step {
        Undo::Apply(change) => sys.apply(change),
        Undo::RuleLeft(r) => {
            tell(sys, News::RuleLeft(r));
            Ok(())
        }
        Undo::DefaultLeft(r) => {
            tell(sys, News::DefaultLeft(r));
            Ok(())
        }
    }
}
