//! Deactivation (DESIGN.md, steps 1 to 4) and the cleanup of an activation that stopped before
//! its snapshot: only what the journal says was added is taken back.

use super::*;
use crate::history::{self, Outage};

/// Deactivation (DESIGN.md, steps 1 to 4). `forced`: by hand, so step 1 (the primary is
/// back) only earns a warning when it does not hold. `primary_ok`: the primary passes
/// this round (by hand: taken as back) — else an interrupted deactivation is being
/// finished in a new outage, and IPv6's tables keep what they need (see [`restore_tables`]).
pub fn deactivate(sys: &mut System, obs: &Observed, forced: bool, primary_ok: bool) -> Result<Outcome, Error> {
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
    let owned = owned_at_failback(sys, obs, &ours, journal_lost, ours_in_main)?;
    let mut owned_defaults = Vec::new();
    for o in &owned {
        if let Owned::Route(r) = o {
            if r.is_default() {
                owned_defaults.push(r.clone());
            }
        }
    }
    // Both families' tables: the snapshot's, main, and any where a default of ours is.
    // (A sorted list rather than a set: BTreeSet<(bool, u32)> was 3.9 KB of the mipsel binary.)
    let mut tables: Vec<(bool, u32)> = vec![(false, RT_TABLE_MAIN)];
    if let Some(s) = &obs.snapshot {
        tables.extend(s.tables.iter().map(|t| (false, *t)));
        tables.extend(s.tables6.iter().map(|t| (true, *t)));
    }
    // And any IPv6 table an earlier failback kept: its own go back now if they can.
    for r in owned_defaults.iter().chain(unrestored(sys.journal())) {
        tables.push((r.is_v6(), r.table));
    }
    tables.sort();
    tables.dedup();
    let saved = Saved { snapshot: obs.snapshot.as_ref(), lost: snapshot_lost, primary_ok };
    let mut done = restore_tables(sys, &obs.routes, saved, &ours, &tables, &owned_defaults);
    let (mut failures, failures6) = (std::mem::take(&mut done.failures), std::mem::take(&mut done.failures6));

    // A table that could not get its routes back keeps our default, and so keeps the
    // rules, the endpoint route and WG_IFACE up that make it work: step 3 waits.
    if !failures.is_empty() {
        return give_up_deactivation(sys, record, &failures);
    }

    // 3. The rest of what activation changed, newest first: rules (deleted only when the
    //    kernel would delete ours, not a user's at the same priority), the endpoint
    //    route, the peer's settings, WG_IFACE's administrative state.
    let owned = links_kept(&mut done.kept, owned);
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
    let flows = flows::after_switch(sys, record.mode.target.into(), Path::Primary);

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
    sys.forget_changes(true, &done.kept)?;
    record.deactivation_finished();
    sys.write_record(&record)?;
    remember_outage(sys, &outage, opened_unix_s);
    let mut numbers = BTreeSet::new();
    for (_, t) in &tables {
        numbers.insert(*t);
    }
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

/// Where step 2's saved routes come from: the snapshot (`None`: an activation stopped
/// before it, or the cleanup of what a failback kept), whether it was lost (our default in
/// `main` without it), and whether the primary passes this round.
#[derive(Clone, Copy)]
struct Saved<'a> {
    snapshot: Option<&'a Snapshot>,
    lost: bool,
    primary_ok: bool,
}

/// What step 2 came to: what holds the failback up, IPv6's failures that are only told,
/// and what stays journaled for the ticks after (see [`restore_tables`]).
#[derive(Default)]
struct Restored {
    failures: Vec<String>,
    failures6: Vec<String>,
    kept: Vec<Owned>,
}

/// Step 2 for each table of `tables` (family, number): the saved routes go back before
/// ours (`owned_defaults`) go, so no table is ever without a default. What is saved is
/// the snapshot's (`None`: an activation stopped before it, or the cleanup of what a
/// failback kept) and IPv6's that an earlier failback could not put back (the journal's
/// [`Owned::Unrestored`]).
///
/// A table whose saved routes cannot be put back — refused, or gone with their device (one
/// that vanished since the primary was judged back: a new outage) — keeps our default
/// when it would otherwise be left without one ([`keeps_ours`], both families). An IPv4
/// table so kept holds the failback up: the next round judges afresh. IPv6's never hold
/// IPv4 up: its refusals are told; with the primary down, a table so kept is journaled
/// (ours and its own, as `Unrestored`) for the ticks after the failback, whose cleanup
/// puts its own back once it can and takes ours at the first healthy tick ([`cleanup`]).
/// With the primary passing, the outage is over and ours goes: an IPv6 policy table
/// without a default lets its lookups fall through to the next rule, where an
/// `unreachable` of ours would refuse them.
fn restore_tables(
    sys: &mut System,
    routes: &[Route],
    saved_in: Saved,
    ours: &Ours,
    tables: &[(bool, u32)],
    owned_defaults: &[Route],
) -> Restored {
    let mut out = Restored::default();
    for &(v6, table) in tables {
        let current = defaults_cloned(routes, v6, table);
        let mine = routes_where(owned_defaults, &|r| r.table == table && r.is_v6() == v6);
        let mut saved = saved_defaults(v6, table, saved_in.snapshot, saved_in.lost, &current, &mine, ours);
        for u in unrestored_of(sys.journal(), v6, table) {
            if !saved.iter().any(|s| s.same_path(&u)) {
                saved.push(u);
            }
        }
        let (saved, gone) = restorable(saved, &sys.links);
        for r in &gone {
            tell(sys, News::NotRestoring(r));
        }
        let mut restored = true;
        let over = v6 && saved_in.primary_ok;
        let mut carried = over || !keeps_ours(&current, &mine, saved.len() + gone.len());
        let plan = restore_table(&current, &saved, &mine);
        // Deletions before the first addition make room for it (a saved route of our key).
        let first_add = plan.iter().position(|c| matches!(c, Change::AddRoute(..))).unwrap_or(0);
        let mut left = routes_where(&mine, &|m| current.contains(m));
        for (i, change) in plan.into_iter().enumerate() {
            let last_defaults = i >= first_add && !carried;
            if matches!(change, Change::DelRoute(_)) && (!restored || last_defaults) {
                continue;
            }
            let done = sys.apply(&change);
            carried |= done.is_ok() && matches!(change, Change::AddRoute(..));
            match (&done, &change) {
                (Ok(()), Change::DelRoute(r)) => left.retain(|x| x != r),
                (Err(e), _) => {
                    // An IPv6 saved route the kernel refuses is told, not waited for; one of
                    // ours that cannot be deleted holds the failback up whatever its family
                    // (left behind, it would read as the failsafe still on).
                    let refused_saved = matches!(change, Change::AddRoute(..));
                    restored &= v6 || !refused_saved;
                    if v6 && refused_saved { &mut out.failures6 } else { &mut out.failures }.push(e.to_string());
                }
                _ => {}
            }
        }
        match (restored && !carried, v6) {
            (false, _) => {}
            (true, false) => out
                .failures
                .push(format!("table {table} keeps the failsafe's default: none of its own could be put back")),
            (true, true) => {
                out.failures6.push(format!(
                    "IPv6 table {table} keeps the failsafe's default until one of its own can be put back"
                ));
                out.kept.extend(left.into_iter().map(Owned::Route));
                out.kept.extend(saved.into_iter().chain(gone).map(Owned::Unrestored));
            }
        }
    }
    out
}

/// What deactivation takes back: the journal's items, or, the journal lost, what has the
/// failsafe's shape; and an IPv6 default of ours that the journal does not list — a
/// failback kept it and the journal that said so was lost since — taken by its shape, as a
/// lost journal's are: left, it would read as the failsafe on at every tick.
fn owned_at_failback(
    sys: &mut System,
    obs: &Observed,
    ours: &Ours,
    journal_lost: bool,
    ours_in_main: bool,
) -> Result<Vec<Owned>, Error> {
    if journal_lost {
        tell(sys, News::StateLost);
        let seen = routes_to_every_vps(sys, &obs.routes)?;
        return Ok(inferred_owned(&seen, &obs.rules, ours));
    }
    let mut owned = sys.journal().to_vec();
    if ours_in_main {
        let unlisted: Vec<Owned> = inferred_owned(&obs.routes, &[], ours)
            .into_iter()
            .filter(|o| matches!(o, Owned::Route(r) if r.is_v6() && r.is_default() && !owns_path(&owned, r)))
            .collect();
        owned.extend(unlisted);
    }
    Ok(owned)
}

/// The one rule of step 2 for both families: a table keeps our defaults (`mine`) when
/// they are all it holds (`current`) and it had defaults of its own (`own`: how many are
/// saved for it) — deleting them would leave it without any until one of its own is put
/// back. A table that had none of its own (only ours were ever there) gets back to none.
fn keeps_ours(current: &[Route], mine: &[Route], own: usize) -> bool {
    let ours_there = current.iter().any(|r| mine.contains(r));
    let others = current.iter().any(|r| !mine.contains(r));
    ours_there && !others && own > 0
}

/// `items` but WG_IFACE's administrative state when a default of ours that stays (`kept`)
/// goes through it: set down, the link would take that default with it. Moved to `kept`,
/// it is taken back with the default.
fn links_kept(kept: &mut Vec<Owned>, items: Vec<Owned>) -> Vec<Owned> {
    let through = |dev: &str| kept.iter().any(|k| matches!(k, Owned::Route(r) if r.devices().any(|d| d == dev)));
    let (links, rest): (Vec<Owned>, Vec<Owned>) =
        items.into_iter().partition(|o| matches!(o, Owned::LinkUp(dev) if through(dev)));
    kept.extend(links);
    rest
}

/// IPv6's own defaults of one table that a failback could not put back, as journaled.
fn unrestored_of(journal: &[Owned], v6: bool, table: u32) -> Vec<Route> {
    let mut routes = Vec::new();
    for r in unrestored(journal) {
        if r.is_v6() == v6 && r.table == table {
            routes.push(r.clone());
        }
    }
    routes
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
/// snapshot, or IPv6's defaults of ours that a failback kept) while the failsafe is off.
/// `primary_ok`: the primary passes this round (by hand: taken as back); `None`: an
/// activation taken back, which leaves the tables a failback kept as they are. A table a
/// failback kept gets its own defaults back and loses ours as step 2 would do it
/// ([`restore_tables`]): once the primary passes, ours goes whatever; until then one that
/// still cannot have its own keeps ours, journaled.
pub fn cleanup(sys: &mut System, primary_ok: Option<bool>) -> Result<Outcome, Error> {
    let items = sys.journal().to_vec();
    let rules = if items.iter().any(|o| matches!(o, Owned::Rule(_))) { sys.rules()? } else { Vec::new() };
    let default = |o: &Owned| matches!(o, Owned::Route(r) if r.is_default()) || matches!(o, Owned::Unrestored(_));
    let routes = if items.iter().any(default) { sys.routes()? } else { Vec::new() };
    let mut kept_tables: Vec<(bool, u32)> = Vec::new();
    for r in unrestored(&items) {
        kept_tables.push((r.is_v6(), r.table));
    }
    kept_tables.sort();
    kept_tables.dedup();
    let in_kept = |o: &Owned| match o {
        Owned::Route(r) => r.is_default() && kept_tables.contains(&(r.is_v6(), r.table)),
        Owned::Unrestored(_) => true,
        _ => false,
    };
    let (mut kept_items, mut rest) = (Vec::new(), Vec::new());
    for o in items {
        if in_kept(&o) { &mut kept_items } else { &mut rest }.push(o);
    }
    let mut done = Restored { kept: kept_items.clone(), ..Restored::default() };
    if let (Some(primary_ok), false) = (primary_ok, kept_tables.is_empty()) {
        let ours = Ours { cfg: sys.cfg, backup_gw: Ipv4Addr::UNSPECIFIED, primary_gw: None, over_budget: false };
        let owned_defaults: Vec<Route> = owned_routes(&kept_items);
        let saved = Saved { snapshot: None, lost: false, primary_ok };
        done = restore_tables(sys, &routes, saved, &ours, &kept_tables, &owned_defaults);
        if !done.failures.is_empty() {
            return Err(Error::Failed(done.failures.join("; ")));
        }
    }
    let rest = links_kept(&mut done.kept, rest);
    for step in undo_plan(&rest, &routes, &rules, Undoer::Cleanup) {
        take_back(sys, &step)?;
    }
    sys.forget_changes(false, &done.kept)?;
    if !rest.is_empty() {
        tell(sys, News::TookBack(rest.len()));
    }
    if !done.failures6.is_empty() {
        tell(sys, News::Ipv6NotRestored(&done.failures6));
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
