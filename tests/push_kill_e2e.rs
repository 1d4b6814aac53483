//! Issue 6, item 11: 1,000 signed DingTalk pushes from several concurrent
//! senders into the real `hrhub serve`, which is killed with SIGKILL at
//! random moments and restarted on the same SQLite file while the senders
//! go on (retrying failed deliveries as DingTalk does, on a shortened
//! schedule). Some event ids are sent more than once, some right behind
//! each other so two copies are in flight together; some deliveries are
//! forged.
//!
//! What the store must hold afterwards, precisely:
//! - every event that got a 2xx carrying a valid encrypted `success` is
//!   stored (the hub answers only after the event is committed);
//! - an event is stored only if at least one of its deliveries reached the
//!   hub and was not refused: a delivery cut by a kill (reset, no complete
//!   answer) or answered 5xx may have been committed first. That is
//!   allowed: the platform, which never saw a `success`, retries it, and the
//!   retry is a duplicate;
//! - an event whose every delivery found the hub down (connection
//!   refused), a forged delivery (401), and an event never sent are not
//!   stored;
//! - each event is stored once, however many of its deliveries landed.
//!
//! The kill points are drawn from a seeded RNG; the seed is printed, and
//! `HRHUB_KILL_SEED=N` replays a run.

mod common;

use common::*;
use hrhub_connector::synthetic::mix;
use hrhub_dingtalk::mock::{MockDingTalk, MockHandle, MockOptions};
use hrhub_dingtalk::push::event_id;
use hrhub_wecom::{MockOptions as WcOptions, MockWeCom};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PUSHES: usize = 1_000;
const REPEATS: usize = 80;
const FORGED: usize = 40;
const SENDERS: usize = 6;
const KILLS: usize = 4;
/// Pauses before the first and second retry of a failed delivery
/// (DingTalk: 10 s and 30 s, here a tenth); after that the push is given
/// up (DingTalk would put it on its failed-push list).
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];
/// Pushes are made at this pace: events happen over time, so a restart
/// meets some of them, not all.
const PACE: Duration = Duration::from_millis(10);

/// A seeded draw in `lo..hi`.
fn draw(seed: u64, n: u64, salt: u64, lo: u64, hi: u64) -> u64 {
    lo + mix(seed, n, salt) % (hi - lo)
}

/// One push: which event, and whether its deliveries are forged.
#[derive(Clone, Copy)]
struct Push {
    event: usize,
    forged: bool,
}

/// What happened to each event's deliveries.
#[derive(Default)]
struct Ledger {
    /// A delivery got a 2xx with a valid encrypted `success`.
    acked: HashSet<usize>,
    /// Events a delivery of which reached the hub and may have been
    /// committed (cut by a kill, or answered 5xx).
    maybe: HashSet<usize>,
    /// Such deliveries.
    cut: usize,
    /// Forged pushes answered 401 (the others found the hub down every
    /// time and were given up).
    forged_refused: usize,
    forged_given_up: usize,
    /// Deliveries that found the hub down.
    unreached: usize,
    /// Pushes given up after the last retry.
    given_up: usize,
    /// Anything a genuine delivery should never get.
    unexpected: Vec<String>,
}

enum Attempt {
    Acked,
    Refused,
    /// Reached the hub, no `success` (cut, 5xx, or an invalid reply).
    Maybe(String),
    Unreached,
}

async fn attempt(
    client: &reqwest::Client,
    url: &str,
    dt: &MockHandle,
    event: &Value,
    forged: bool,
) -> Attempt {
    let mut delivery = dt.delivery(event);
    if forged {
        delivery
            .query
            .insert("msg_signature".into(), "0".repeat(40));
    }
    match post_delivery(client, url, &delivery).await {
        Err(e) if e.is_connect() => Attempt::Unreached,
        Err(e) => Attempt::Maybe(format!("cut: {e}")),
        Ok(res) if res.status() == 401 => Attempt::Refused,
        Ok(res) if res.status().is_success() => match res.json::<Value>().await {
            Ok(reply) if dt.reply_is_success(&reply) => Attempt::Acked,
            Ok(reply) => Attempt::Maybe(format!("2xx without a valid success: {reply}")),
            Err(e) => Attempt::Maybe(format!("reply cut: {e}")),
        },
        Ok(res) => Attempt::Maybe(format!("HTTP {}", res.status())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_survive_sigkills_every_acknowledged_one_stored_once() {
    let started = Instant::now();
    let seed: u64 = std::env::var("HRHUB_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64);
    println!("push kill test seed: {seed} (replay with HRHUB_KILL_SEED={seed})");

    let dir = tempfile::tempdir().unwrap();
    let dt = Arc::new(
        MockDingTalk::start(MockOptions {
            qps_limit: None,
            ..MockOptions::default()
        })
        .await,
    );
    let wc = MockWeCom::start(WcOptions::default()).await;
    let port = free_port();
    let config = write_push_config(dir.path(), port, &dt, &wc);
    let url = format!("http://127.0.0.1:{port}/webhooks/dt");

    // Distinct events: mostly approvals (landed only), every 25th a
    // roster change (landed, then re-fetched), so the hub also works in
    // the background when it is killed. Extra events are made for the
    // forged pushes and some are never sent at all.
    let genuine = PUSHES - REPEATS - FORGED;
    let users = dt.user_ids();
    let events: Vec<Value> = (0..genuine + FORGED + 20)
        .map(|i| {
            if i % 25 == 0 {
                let user = &users[i / 25 % users.len()];
                dt.event(
                    "user_modify_org",
                    json!({"diffInfo": {"userid": user, "prev": {"title": "客服专员"}, "curr": {"title": format!("客服 {i}")}}}),
                )
            } else {
                dt.event(
                    "bpms_instance_change",
                    json!({"processInstanceId": format!("pi-{i}"), "processCode": "PROC-LEAVE", "type": "finish", "result": "agree"}),
                )
            }
        })
        .collect();
    let keys: Vec<String> = events.iter().map(event_id).collect();
    assert_eq!(
        keys.iter().collect::<HashSet<_>>().len(),
        events.len(),
        "distinct events have distinct keys"
    );

    // The pushes: every genuine event once, in order; repeats of earlier
    // events, half right behind the original (in flight together), half
    // later; forged deliveries of other events anywhere.
    let mut pushes: Vec<Push> = (0..genuine)
        .map(|event| Push {
            event,
            forged: false,
        })
        .collect();
    for r in 0..REPEATS as u64 {
        let event = draw(seed, r, 1, 0, genuine as u64) as usize;
        let at = pushes
            .iter()
            .position(|p| p.event == event && !p.forged)
            .unwrap();
        let to = if r % 2 == 0 {
            at + 1
        } else {
            draw(seed, r, 2, at as u64 + 1, pushes.len() as u64 + 1) as usize
        };
        pushes.insert(
            to,
            Push {
                event,
                forged: false,
            },
        );
    }
    for f in 0..FORGED as u64 {
        let to = draw(seed, f, 3, 0, pushes.len() as u64 + 1) as usize;
        pushes.insert(
            to,
            Push {
                event: genuine + f as usize,
                forged: true,
            },
        );
    }
    assert_eq!(pushes.len(), PUSHES);

    // (push index, attempts made so far, due at)
    let t0 = Instant::now();
    let queue: Arc<Mutex<VecDeque<(usize, usize, Instant)>>> = Arc::new(Mutex::new(
        (0..PUSHES).map(|i| (i, 0, t0 + PACE * i as u32)).collect(),
    ));
    let open = Arc::new(AtomicUsize::new(PUSHES)); // pushes not yet settled
    let sent = Arc::new(AtomicUsize::new(0)); // attempts started
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let events = Arc::new(events);
    let pushes = Arc::new(pushes);

    let mut server = Some(serve(&config, port).await);
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (queue, open, sent, ledger, events, pushes, dt, url) = (
            queue.clone(),
            open.clone(),
            sent.clone(),
            ledger.clone(),
            events.clone(),
            pushes.clone(),
            dt.clone(),
            url.clone(),
        );
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            loop {
                let job = {
                    let mut q = queue.lock().unwrap();
                    let due = q.iter().position(|(_, _, at)| *at <= Instant::now());
                    due.and_then(|i| q.remove(i))
                };
                let Some((index, attempts, _)) = job else {
                    if open.load(Ordering::SeqCst) == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                };
                let push = pushes[index];
                sent.fetch_add(1, Ordering::SeqCst);
                let outcome = attempt(&client, &url, &dt, &events[push.event], push.forged).await;
                let mut l = ledger.lock().unwrap();
                let retry = match outcome {
                    Attempt::Acked if push.forged => {
                        l.unexpected
                            .push(format!("forged push {index} was accepted"));
                        false
                    }
                    Attempt::Acked => {
                        l.acked.insert(push.event);
                        false
                    }
                    Attempt::Refused => {
                        if push.forged {
                            l.forged_refused += 1;
                        } else {
                            l.unexpected
                                .push(format!("genuine push {index} was refused with 401"));
                        }
                        false
                    }
                    Attempt::Maybe(why) => {
                        l.cut += 1;
                        if !push.forged {
                            l.maybe.insert(push.event);
                        }
                        note_cut(index, &why);
                        true
                    }
                    Attempt::Unreached => {
                        l.unreached += 1;
                        true
                    }
                };
                drop(l);
                if retry && attempts < RETRY_DELAYS.len() {
                    let at = Instant::now() + RETRY_DELAYS[attempts];
                    queue.lock().unwrap().push_back((index, attempts + 1, at));
                } else {
                    if retry {
                        let mut l = ledger.lock().unwrap();
                        l.given_up += 1;
                        if push.forged {
                            l.forged_given_up += 1;
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }));
    }

    // SIGKILL at random points of the stream: a seeded number of attempts
    // after the (re)start, plus a few milliseconds so some kills land
    // mid-request
    let mut kills = 0;
    for k in 0..KILLS as u64 {
        let at = sent.load(Ordering::SeqCst) + draw(seed, k, 4, 30, 150) as usize;
        while sent.load(Ordering::SeqCst) < at && open.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if open.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(draw(seed, k, 5, 0, 25))).await;
        drop(server.take()); // SIGKILL, reaped
        kills += 1;
        let attempts = sent.load(Ordering::SeqCst);
        // down for a while: deliveries are refused and retried
        tokio::time::sleep(Duration::from_millis(draw(seed, k, 6, 50, 400))).await;
        let down = Instant::now();
        server = Some(serve(&config, port).await);
        println!(
            "kill {kills} after {attempts} attempts; restarted in {} ms",
            down.elapsed().as_millis()
        );
    }
    for s in senders {
        s.await.unwrap();
    }
    // one more kill once every sender has its answer, then a restart:
    // what was acknowledged survives it
    drop(server.take());
    let _server = serve(&config, port).await;

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let store = open_store(dir.path()).await;
    let held = all_raw(&store, "dt", "events").await;
    let index_of: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let stored: Vec<Option<usize>> = held
        .iter()
        .map(|r| index_of.get(r.external_id.as_str()).copied())
        .collect();
    let stored_set: HashSet<usize> = stored.iter().flatten().copied().collect();
    println!(
        "{PUSHES} pushes ({genuine} events, {REPEATS} repeats, {FORGED} forged), {} attempts, {kills} kills: \
         {} events acknowledged, {} stored ({} of them without an acknowledgement), {} deliveries cut or 5xx, \
         {} found the hub down, {} pushes given up; {:.1} s",
        sent.load(Ordering::SeqCst),
        ledger.acked.len(),
        held.len(),
        stored_set.difference(&ledger.acked).count(),
        ledger.cut,
        ledger.unreached,
        ledger.given_up,
        started.elapsed().as_secs_f64()
    );

    assert!(ledger.unexpected.is_empty(), "{:?}", ledger.unexpected);
    for (record, event) in held.iter().zip(&stored) {
        let event =
            event.unwrap_or_else(|| panic!("stored an event never made: {}", record.external_id));
        assert!(
            event < genuine,
            "a forged or never-sent event is stored: {event}"
        );
        assert!(
            ledger.acked.contains(&event) || ledger.maybe.contains(&event),
            "event {event} is stored though none of its deliveries reached the hub"
        );
        assert_eq!(record.payload, events[event], "stored as delivered");
    }
    assert_eq!(stored_set.len(), held.len(), "an event stored twice");
    let lost: Vec<_> = ledger.acked.difference(&stored_set).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(
        events_held(&store, "dt").await,
        held.len() as i64,
        "one record per event"
    );
    assert_eq!(kills, KILLS, "every kill landed while pushes were going");
    assert!(
        ledger.unreached > 0,
        "no delivery found the hub down: the kills missed the traffic"
    );
    assert_eq!(
        ledger.forged_refused + ledger.forged_given_up,
        FORGED,
        "every forged push refused (or never got through)"
    );
    assert!(ledger.forged_refused > 0);
}

/// Why a delivery that reached the hub got no `success` (with
/// `HRHUB_KILL_VERBOSE=1`).
fn note_cut(push: usize, why: &str) {
    if std::env::var_os("HRHUB_KILL_VERBOSE").is_some() {
        eprintln!("  push {push}: {why}");
    }
}
