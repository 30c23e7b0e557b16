//! `status`'s quality verdict (issue 18), with quality limits set: the loss and mean
//! round-trip time of its own round of the primary (PROBE_COUNT echoes per target, all
//! of them; shown added up over the targets) against the DOWN and UP limits, and what the
//! judge's own function (`judge::quality_verdict`, each target on its own, as `run`'s tick
//! judges them) says of them — against the UP limits while the failsafe is on (the
//! failback wait), else the DOWN ones.

use super::Json;
use crate::config::Quality;
use crate::judge::quality_verdict;
use crate::probe::Stats;

/// What `fails` says of a round that sent no echo the judge let pass.
const NOT_MEASURED: &str = "not measured (no echo sent)";

/// The quality limits against one round's echoes, as the judge sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QualitySeen {
    /// Every target's echoes of the round, added up.
    pub stats: Stats,
    pub limits: Quality,
    /// Judged against the UP limits (the failsafe is on: the primary's failback wait),
    /// else against the DOWN ones.
    pub waiting: bool,
    /// Why the round fails them, in the judge's words, or that it was not measured (no
    /// echo sent: the primary has no carrier) — `None`: it passes.
    pub fails: Option<String>,
}

impl QualitySeen {
    /// The limits `q` over each target's echoes, judged by `judge::quality_verdict` as a
    /// round is (`need`: TRACK_RELIABILITY's count; `waiting`: the failsafe is on); `None`
    /// when no limit is set. A round that sent no echo is not measured, never passes (the
    /// judge lets it pass the DOWN limits: the carrier's verdict is what fails it then).
    pub fn judged(q: &Quality, targets: &[Stats], need: usize, waiting: bool) -> Option<QualitySeen> {
        let stats = targets.iter().fold(Stats::default(), |t, s| Stats {
            sent: t.sent + s.sent,
            received: t.received + s.received.min(s.sent),
            rtt_total: t.rtt_total + s.rtt_total,
        });
        let fails = match quality_verdict(q, Some(targets), need, waiting) {
            Err(why) => Some(why.to_string()),
            Ok(_) if stats.sent == 0 => Some(NOT_MEASURED.to_string()),
            Ok(_) => None,
        };
        q.on().then(|| QualitySeen { stats, limits: q.clone(), waiting, fails })
    }

    /// `loss 2 of 20 echoes (10 %; down above 20 %, up at most 5 %), rtt 48.0 ms (down
    /// above 500 ms, up at most 150 ms): passes the down limits`.
    pub fn text(&self) -> String {
        let (q, s) = (&self.limits, &self.stats);
        let limits = |down: Option<u64>, up: Option<u64>, unit: &str| match down {
            Some(d) => format!("down above {d} {unit}, up at most {} {unit}", up.unwrap_or(d)),
            None => "no limit".to_string(),
        };
        let (loss_down, loss_up) = (q.loss_down_pct.map(u64::from), q.loss_up_pct.map(u64::from));
        let lost = s.sent - s.received.min(s.sent);
        let loss = match s.sent {
            0 => "no echo sent".to_string(),
            n => format!("loss {lost} of {n} echoes ({} %; {})", s.loss_pct(), limits(loss_down, loss_up, "%")),
        };
        let rtt = match s.rtt_us() {
            Some(us) => {
                format!("rtt {} ms ({})", crate::decimal::ms_1(us), limits(q.latency_down_ms, q.latency_up_ms, "ms"))
            }
            None => "rtt: no answer".to_string(),
        };
        let against = if self.waiting { "up limits (failback wait)" } else { "down limits" };
        match &self.fails {
            None => format!("{loss}, {rtt}: passes the {against}"),
            Some(why) if why == NOT_MEASURED => format!("{loss}, {rtt}: {why} against the {against}"),
            Some(why) => format!("{loss}, {rtt}: FAILS the {against}: {why}"),
        }
    }

    /// `{"sent":20,"lost":2,"loss_pct":10,"rtt_ms":48.000,"loss_down_pct":20,"loss_up_pct":5,
    /// "latency_down_ms":500,"latency_up_ms":150,"against":"down","passes":true,"why":null}`.
    /// `{"sent":…,"lost":…,…,"passes":true,"why":null}`.
    pub fn write_json(&self, j: &mut Json) {
        let (q, s) = (&self.limits, &self.stats);
        j.open().key("sent").num(u64::from(s.sent)).key("lost").num(u64::from(s.sent - s.received.min(s.sent)));
        j.key("loss_pct").num(u64::from(s.loss_pct())).key("rtt_ms");
        match s.rtt_us() {
            Some(us) => j.raw(&crate::decimal::ms_3(us)),
            None => j.null(),
        };
        j.key("loss_down_pct").opt_num(q.loss_down_pct.map(u64::from));
        j.key("loss_up_pct").opt_num(q.loss_up_pct.map(u64::from));
        j.key("latency_down_ms").opt_num(q.latency_down_ms);
        j.key("latency_up_ms").opt_num(q.latency_up_ms);
        j.key("against").str(if self.waiting { "up" } else { "down" });
        j.key("passes").bool(self.fails.is_none()).key("why").opt_str(self.fails.as_deref()).close();
    }

    /// [`Self::write_json`]'s text alone.
    pub fn json(&self) -> String {
        let mut j = Json::new();
        self.write_json(&mut j);
        j.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stats(sent: u32, received: u32, rtt_ms: u64) -> Stats {
        Stats { sent, received, rtt_total: Duration::from_millis(rtt_ms * u64::from(received)) }
    }

    const DSL: Quality = Quality {
        loss_down_pct: Some(20),
        latency_down_ms: Some(500),
        loss_up_pct: Some(5),
        latency_up_ms: Some(150),
        window_s: 10,
    };

    #[test]
    fn no_limit_set_shows_nothing() {
        assert_eq!(QualitySeen::judged(&Quality::default(), &[stats(3, 3, 10)], 1, false), None);
    }

    #[test]
    fn the_round_against_the_down_limits_and_while_on_against_the_up_limits() {
        let healthy = QualitySeen::judged(&DSL, &[stats(20, 18, 48)], 1, false).expect("limits set");
        assert_eq!(
            healthy.text(),
            "loss 2 of 20 echoes (10 %; down above 20 %, up at most 5 %), rtt 48.0 ms (down above 500 ms, up at most 150 ms): passes the down limits"
        );
        assert_eq!(
            healthy.json(),
            "{\"sent\":20,\"lost\":2,\"loss_pct\":10,\"rtt_ms\":48.000,\"loss_down_pct\":20,\"loss_up_pct\":5,\"latency_down_ms\":500,\"latency_up_ms\":150,\"against\":\"down\",\"passes\":true,\"why\":null}"
        );
        // The same round during the failback wait: 10 % is above LOSS_UP_PCT (the judge's words).
        let waiting = QualitySeen::judged(&DSL, &[stats(20, 18, 48)], 1, true).expect("limits set");
        assert!(
            waiting.text().ends_with(
                ": FAILS the up limits (failback wait): poor quality: 2 of 20 echoes lost, above LOSS_UP_PCT=5 %"
            ),
            "{}",
            waiting.text()
        );
        assert!(waiting.json().ends_with(
            "\"against\":\"up\",\"passes\":false,\"why\":\"poor quality: 2 of 20 echoes lost, above LOSS_UP_PCT=5 %\"}"
        ));
        // Slow, no loss: the latency limit fails it.
        let late = QualitySeen::judged(&DSL, &[stats(10, 10, 600)], 1, false).expect("limits set");
        assert!(late
            .text()
            .ends_with("FAILS the down limits: poor quality: mean round-trip 600 ms, above LATENCY_DOWN_MS=500 ms"));
    }

    #[test]
    fn a_loss_limit_alone_and_no_answer_at_all() {
        let loss_only = Quality { loss_down_pct: Some(30), loss_up_pct: Some(30), ..Quality::default() };
        let silent = QualitySeen::judged(&loss_only, &[stats(3, 0, 0)], 1, false).expect("limits set");
        assert_eq!(
            silent.text(),
            "loss 3 of 3 echoes (100 %; down above 30 %, up at most 30 %), rtt: no answer: FAILS the down limits: poor quality: 3 of 3 echoes lost, above LOSS_DOWN_PCT=30 %"
        );
        assert!(silent.json().contains(
            "\"rtt_ms\":null,\"loss_down_pct\":30,\"loss_up_pct\":30,\"latency_down_ms\":null,\"latency_up_ms\":null,"
        ));
        let fine = QualitySeen::judged(&loss_only, &[stats(3, 3, 20)], 1, false).expect("limits set");
        assert!(fine.text().contains("rtt 20.0 ms (no limit): passes the down limits"), "{}", fine.text());
        // Nothing sent (no carrier): not measured, which fails only the wait.
        let unprobed = QualitySeen::judged(&loss_only, &[Stats::default()], 1, true).expect("limits set");
        assert_eq!(
            unprobed.text(),
            "no echo sent, rtt: no answer: FAILS the up limits (failback wait): quality not measured yet"
        );
        // Nor against the down limits, which the judge lets it pass: not measured, not passed.
        let no_carrier = QualitySeen::judged(&loss_only, &[Stats::default()], 1, false).expect("limits set");
        assert_eq!(
            no_carrier.text(),
            "no echo sent, rtt: no answer: not measured (no echo sent) against the down limits"
        );
        assert!(no_carrier.json().ends_with("\"passes\":false,\"why\":\"not measured (no echo sent)\"}"));
    }

    /// Each target is judged on its own, as the round judges them: a silent TRACK_IPS target
    /// beside a perfect one is one failed target (TRACK_RELIABILITY=1 passes), not 50 % loss
    /// of the line; the shown figures are the targets' together.
    #[test]
    fn targets_are_judged_each_on_its_own_and_shown_together() {
        let loss_only = Quality { loss_down_pct: Some(20), loss_up_pct: Some(5), ..Quality::default() };
        let targets = [stats(3, 3, 20), stats(3, 0, 0)];
        let one = QualitySeen::judged(&loss_only, &targets, 1, true).expect("limits set");
        assert!(one.text().starts_with("loss 3 of 6 echoes (50 %;"), "{}", one.text());
        assert!(one.text().ends_with("passes the up limits (failback wait)"), "{}", one.text());
        let both = QualitySeen::judged(&loss_only, &targets, 2, true).expect("limits set");
        assert!(both.text().contains(": FAILS the up limits (failback wait): "), "{}", both.text());
    }
}
