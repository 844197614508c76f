//! `initscope diagnose` and the viewer on initscope-runtime bootstraps stuck for real:
//! created and never started, a stage held at a pause point, a sync message the peer
//! never sends, a stage stopped with SIGSTOP, the cgroup frozen while init boots, a
//! stage killed mid-way. Each checks that the verdict names the stage, what it waits on,
//! who holds the other end and for how long — from `diagnose --json` and in the viewer.

mod diagnose_common;

use std::time::Duration;

use diagnose_common::{
    diagnose_json, initscope, process, signal, state_of, text, wait_until, wchan_of, Case,
};

#[test]
fn created_and_never_started_waits_for_start() {
    let case = Case::sleeper("dg-created", false);
    case.create();
    let init = case.rt.state(&case.id).unwrap()["pid"].as_i64().unwrap() as i32;
    std::thread::sleep(Duration::from_millis(1200));
    let r = case.diagnose(&case.id);
    assert_eq!(r["status"], "created", "{r:#}");
    assert_eq!(r["culprit"], init);
    assert_eq!(r["normal"], true);
    let start = format!(
        "initscope-runtime --root {} start {}",
        case.rt.root.display(),
        case.id
    );
    assert_eq!(r["next"], start.as_str());
    let p = process(&r, "[2:INIT]");
    assert_eq!(p["pid"], init);
    assert_eq!(p["ns_pid"], 1);
    assert_eq!(p["kind"], "normal");
    assert_eq!(p["state"], "S");
    assert_eq!(p["wchan"], "wait_for_partner");
    assert_eq!(p["syscall"]["name"], "openat");
    assert_eq!(p["fd"]["exec_fifo"], true, "{p:#}");
    assert!(text(&p["fd"]["target"]).ends_with(&format!("{}/exec.fifo", case.id)));
    assert!(text(&p["waits_on"]).contains("exec.fifo"));
    assert!(text(&p["other_end"]).contains("nobody yet"), "{p:#}");
    assert!(p["for_s"].as_f64().unwrap() >= 1.0, "{p:#}");
    assert_eq!(p["since"], "its last event");
    assert_eq!(p["last_sent"]["msg"], "procReady");
    assert!(
        text(&p["verdict"])
            .contains("init is waiting for `start`: this is the normal created state"),
        "{p:#}"
    );
    assert!(text(&p["verdict"]).contains(&start));
    // The stages that finished say so.
    assert_eq!(process(&r, "[1:CHILD]")["kind"], "exited");
    // By pid, any process of it finds the same container.
    let by_pid = case.diagnose(&init.to_string());
    assert_eq!(by_pid["container"], case.id.as_str());
    assert_eq!(by_pid["culprit"], init);
    // The viewer: red after 1 s, with the same verdict.
    let (screen, details, _) = case.viewer(init);
    assert!(screen.contains("STUCK"), "{screen}");
    assert!(
        screen.contains(&format!(
            "stuck: [2:INIT] {init} exec.fifo (waiting for start)"
        )),
        "{screen}"
    );
    assert!(
        details.contains("STUCK: waits on exec.fifo (waiting for start) for "),
        "{details}"
    );
    assert!(
        details.contains("init is waiting for `start`: this is the normal created state"),
        "{details}"
    );
    assert!(details.contains(&start), "{details}");
    // Started, it is no longer stuck: the program runs.
    case.rt.ok(&["start", &case.id]);
    let r = case.diagnose(&case.id);
    assert_eq!(r["status"], "running");
    assert_eq!(r["stuck"], false, "{r:#}");
}

#[test]
fn unknown_id_or_pid_is_one_line_and_fails() {
    let out = initscope(&["diagnose", "--root", "/nonexistent-isc-root", "no-such-box"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no container \"no-such-box\""), "{err}");
    assert!(err.contains("/nonexistent-isc-root"), "{err}");
    let out = initscope(&["diagnose", "2147483000"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim(), "initscope diagnose: no process 2147483000");
    // A process that belongs to no container.
    let me = std::process::id().to_string();
    let out = initscope(&["diagnose", "--root", "/nonexistent-isc-root", &me]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("pid {me}")) && err.contains("belongs to no container"),
        "{err}"
    );
}

#[test]
fn child_held_at_a_pause_point_waits_for_sigcont() {
    let mut case = Case::sleeper("dg-held", false);
    case.spawn_create(Some("child:before-unshare"));
    let child = case.paused("child:before-unshare");
    let parent = case.stage_pid("parent");
    std::thread::sleep(Duration::from_millis(1100));
    let r = case.diagnose(&case.id);
    assert_eq!(r["status"], "creating");
    assert_eq!(r["culprit"], child, "{r:#}");
    let held = "is held by INITSCOPE_PAUSE_AT at child:before-unshare: it stopped itself (T)";
    assert!(text(&r["verdict"]).contains(held), "{r:#}");
    assert!(text(&r["verdict"]).contains(&format!(
        "send SIGCONT (`kill -CONT {child}`) or press c in the viewer"
    )));
    let c = process(&r, "[1:CHILD]");
    assert_eq!(c["kind"], "held");
    assert_eq!(c["state"], "T");
    assert_eq!(c["paused_at"], "child:before-unshare");
    assert_eq!(
        c["waits_on"],
        "SIGCONT (INITSCOPE_PAUSE_AT child:before-unshare)"
    );
    assert!(c["for_s"].as_f64().unwrap() >= 1.0);
    // Its parent waits for the child's next request on their socketpair, held by the child.
    let p = process(&r, "[0:PARENT]");
    assert_eq!(p["kind"], "peer", "{p:#}");
    assert_eq!(p["blocked_by"], child);
    assert!(text(&p["waits_on"]).contains("from [1:CHILD]"), "{p:#}");
    assert!(
        text(&p["other_end"]).contains(&format!("[1:CHILD] (pid {child}")),
        "{p:#}"
    );
    assert_eq!(p["fd"]["kind"], "socket");
    assert!(r["chain"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| text(l).starts_with(&format!("[0:PARENT] (pid {parent}) waits for"))));
    // The viewer: [1:CHILD] red, same verdict.
    let (screen, details, _) = case.viewer(child);
    assert!(
        screen.contains(&format!(
            "stuck: [1:CHILD] {child} SIGCONT (INITSCOPE_PAUSE_AT child:before-unshare)"
        )),
        "{screen}"
    );
    assert!(details.contains(held), "{details}");
    assert!(
        details.contains(&format!("kill -CONT {child}")),
        "{details}"
    );
    // Continued, the bootstrap completes.
    signal(child, libc::SIGCONT);
    let (st, err) = case.wait_create();
    assert!(st.success(), "{err}");
    assert_eq!(case.rt.state(&case.id).unwrap()["status"], "created");
}

#[test]
fn init_held_as_pid_1_waits_for_sigcont_in_sigtimedwait() {
    let mut case = Case::sleeper("dg-held-init", false);
    case.spawn_create(Some("init:before-pivot"));
    let init = case.paused("init:before-pivot");
    wait_until("init in rt_sigtimedwait", || {
        wchan_of(init).contains("sigtimedwait")
    });
    std::thread::sleep(Duration::from_millis(1100));
    let r = case.diagnose(&init.to_string());
    assert_eq!(r["container"], case.id.as_str());
    assert_eq!(r["culprit"], init);
    let i = process(&r, "[2:INIT]");
    assert_eq!(i["kind"], "held");
    assert_eq!(i["state"], "S");
    assert_eq!(i["waits_for_signals"][0], "SIGCONT");
    assert_eq!(i["syscall"]["decoded"], "rt_sigtimedwait([SIGCONT])");
    assert!(text(&i["verdict"]).contains("held by INITSCOPE_PAUSE_AT at init:before-pivot"));
    assert!(text(&i["verdict"]).contains("PID 1 of its namespace"));
    // create ran the hooks (procHooks → procResume) and waits for init's procReady.
    let c = process(&r, "create");
    assert_eq!(c["blocked_by"], init, "{c:#}");
    assert_eq!(c["waits_on"], "procReady from [2:INIT]");
    assert_eq!(c["last_sent"]["msg"], "procResume");
    assert!(
        text(&c["other_end"]).contains(&format!("[2:INIT] (pid {init}")),
        "{c:#}"
    );
}

#[test]
fn child_waits_for_usermap_ack_that_the_held_parent_never_sends() {
    let mut case = Case::sleeper("dg-usermap", true);
    case.spawn_create(Some("parent:before-id-maps"));
    let parent = case.paused("parent:before-id-maps");
    let child = case.stage_pid("child");
    wait_until("child in recv", || state_of(child) == Some('S'));
    std::thread::sleep(Duration::from_millis(1100));
    let r = case.diagnose(&case.id);
    let c = process(&r, "[1:CHILD]");
    assert_eq!(c["kind"], "peer", "{c:#}");
    assert_eq!(c["waits_on"], "SYNC_USERMAP_ACK from [0:PARENT]");
    assert_eq!(c["blocked_by"], parent);
    assert_eq!(c["last_sent"]["msg"], "SYNC_USERMAP_PLS");
    assert_eq!(c["fd"]["kind"], "socket");
    assert!(
        c["fd"]["other_end"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["pid"] == parent && h["stage"] == "[0:PARENT]"),
        "{c:#}"
    );
    assert!(text(&c["other_end"]).contains(&format!("[0:PARENT] (pid {parent}, fd")));
    assert!(c["for_s"].as_f64().unwrap() >= 1.0);
    let v = text(&c["verdict"]);
    assert!(
        v.contains(&format!(
            "[1:CHILD] (pid {child}) waits for SYNC_USERMAP_ACK from [0:PARENT] (pid {parent})"
        )),
        "{v}"
    );
    // The chain leads to the parent, held at the pause point.
    assert_eq!(r["culprit"], parent);
    assert!(text(&r["verdict"]).contains("held by INITSCOPE_PAUSE_AT at parent:before-id-maps"));
    assert_eq!(
        process(&r, "[0:PARENT]")["last_received"]["msg"],
        "SYNC_USERMAP_PLS"
    );
    // The viewer.
    let (screen, details, _) = case.viewer(child);
    assert!(
        screen.contains(&format!("stuck: [0:PARENT] {parent} SIGCONT"))
            || screen.contains(&format!(
                "[1:CHILD] {child} SYNC_USERMAP_ACK from [0:PARENT]"
            )),
        "{screen}"
    );
    assert!(
        details.contains("STUCK: waits on SYNC_USERMAP_ACK from [0:PARENT] for "),
        "{details}"
    );
    assert!(
        details.contains(&format!("other end [0:PARENT] (pid {parent}, fd")),
        "{details}"
    );
}

#[test]
fn init_stopped_with_sigstop_holds_up_the_parent() {
    let mut case = Case::sleeper("dg-stopped", false);
    case.spawn_create(Some("parent:before-grandchild"));
    let parent = case.paused("parent:before-grandchild");
    let init = case.stage_pid("init");
    wait_until("init waits for SYNC_GRANDCHILD", || {
        state_of(init) == Some('S')
    });
    signal(init, libc::SIGSTOP);
    wait_until("init stopped", || state_of(init) == Some('T'));
    signal(parent, libc::SIGCONT);
    case.wait_event("SYNC_GRANDCHILD sent", |e| {
        e["kind"] == "sync_send" && e["msg"] == "SYNC_GRANDCHILD"
    });
    std::thread::sleep(Duration::from_millis(1100));
    let r = case.diagnose(&case.id);
    assert_eq!(r["culprit"], init, "{r:#}");
    let i = process(&r, "[2:INIT]");
    assert_eq!(i["kind"], "stopped");
    assert_eq!(i["state"], "T");
    assert!(text(&i["verdict"]).contains("is stopped (T) by a signal (SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU) — not by INITSCOPE_PAUSE_AT"));
    assert_eq!(i["next"], format!("kill -CONT {init}").as_str());
    let p = process(&r, "[0:PARENT]");
    assert_eq!(p["waits_on"], "SYNC_CHILD_FINISH from [2:INIT]");
    assert_eq!(p["blocked_by"], init);
    assert!(
        text(&p["other_end"]).contains(&format!("[2:INIT] (pid {init}")),
        "{p:#}"
    );
    let (screen, details, _) = case.viewer(init);
    assert!(
        screen.contains(&format!("stuck: [2:INIT] {init} SIGCONT")),
        "{screen}"
    );
    assert!(details.contains("not by INITSCOPE_PAUSE_AT"), "{details}");
    signal(init, libc::SIGCONT);
    let (st, err) = case.wait_create();
    assert!(st.success(), "{err}");
}

#[test]
fn cgroup_frozen_while_init_is_held_then_continued() {
    let mut case = Case::sleeper("dg-frozen", false);
    case.spawn_create(Some("init:before-rootfs"));
    let init = case.paused("init:before-rootfs");
    case.freeze();
    signal(init, libc::SIGCONT);
    wait_until("init frozen (D)", || state_of(init) == Some('D'));
    std::thread::sleep(Duration::from_millis(1100));
    // Still frozen: SIGCONT cannot wake a frozen task.
    assert_eq!(state_of(init), Some('D'));
    let r = case.diagnose(&case.id);
    assert_eq!(r["culprit"], init, "{r:#}");
    let i = process(&r, "[2:INIT]");
    assert_eq!(i["kind"], "frozen");
    assert_eq!(i["state"], "D");
    assert_eq!(i["freezer"], "FROZEN");
    let file = case.freezer_file().display().to_string();
    let v = text(&i["verdict"]);
    assert!(
        v.contains(&format!(
            "its cgroup /initscope/{} is FROZEN in the freezer ({file})",
            case.id
        )),
        "{v}"
    );
    assert!(text(&i["next"]).contains(&format!("echo THAWED > {file}")));
    let c = process(&r, "create");
    assert_eq!(c["blocked_by"], init);
    assert!(text(&c["waits_on"]).contains("from [2:INIT]"));
    let (screen, details, _) = case.viewer(init);
    assert!(
        screen.contains(&format!("stuck: [2:INIT] {init} cgroup thaw")),
        "{screen}"
    );
    assert!(
        details.contains(&format!("/initscope/{} is FROZEN", case.id)),
        "{details}"
    );
    // Thawed, the bootstrap goes on and completes.
    std::fs::write(case.freezer_file(), "THAWED").unwrap();
    let (st, err) = case.wait_create();
    assert!(st.success(), "{err}");
}

#[test]
fn cgroup_frozen_while_init_waits_puts_it_in_the_refrigerator() {
    // Init waits for SYNC_GRANDCHILD in recvfrom (not a freezable sleep): the freezer
    // wakes it and parks it in __refrigerator.
    let mut case = Case::sleeper("dg-fridge", false);
    case.spawn_create(Some("parent:before-grandchild"));
    let parent = case.paused("parent:before-grandchild");
    let init = case.stage_pid("init");
    wait_until("init waits", || state_of(init) == Some('S'));
    case.freeze();
    wait_until("init in __refrigerator", || {
        wchan_of(init) == "__refrigerator"
    });
    std::thread::sleep(Duration::from_millis(1100));
    let r = case.diagnose(&case.id);
    let i = process(&r, "[2:INIT]");
    assert_eq!(i["kind"], "frozen", "{i:#}");
    assert_eq!(i["state"], "D");
    assert_eq!(i["stack"][0], "__refrigerator");
    assert!(
        text(&i["verdict"]).contains("so it sits in __refrigerator in state D"),
        "{i:#}"
    );
    // The parent is frozen too (stopped at its pause point, frozen where it stopped).
    assert_eq!(process(&r, "[0:PARENT]")["kind"], "frozen");
    assert!(text(&r["verdict"]).contains("frozen with it:"), "{r:#}");
    let (screen, _, _) = case.viewer(init);
    assert!(screen.contains("stuck:"), "{screen}");
    std::fs::write(case.freezer_file(), "THAWED").unwrap();
    signal(parent, libc::SIGCONT);
    let (st, err) = case.wait_create();
    assert!(st.success(), "{err}");
}

#[test]
fn stage_killed_mid_way_names_the_stage_the_signal_and_the_step() {
    let mut case = Case::sleeper("dg-killed", false);
    case.spawn_create(Some("child:before-unshare"));
    let child = case.paused("child:before-unshare");
    let parent = case.stage_pid("parent");
    signal(child, libc::SIGKILL);
    let (st, err) = case.wait_create();
    assert!(!st.success());
    assert!(err.contains("[1:CHILD] failed: killed by SIGKILL"), "{err}");
    // The state directory is gone: the log the runtime streamed tells what happened.
    assert!(!case.rt.root.join(&case.id).exists());
    let died = case
        .events()
        .into_iter()
        .find(|e| e["kind"] == "stage_died")
        .expect("create reports the death as stage_died");
    assert_eq!(died["dead_stage"], "child");
    assert_eq!(died["dead_pid"], child);
    assert_eq!(died["signal"], "SIGKILL");
    assert_eq!(died["last_step"], "paused at child:before-unshare");
    let events = case.rt.events.display().to_string();
    let r = diagnose_json(&["--events", &events, &case.id]);
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(r["culprit"], child);
    let v = text(&r["verdict"]);
    assert!(v.contains(&format!("[1:CHILD] (pid {child}) was killed by SIGKILL after its last step `paused at child:before-unshare`")), "{v}");
    assert!(
        v.contains(&format!("[0:PARENT] (pid {parent}) read end-of-file")),
        "{v}"
    );
    let c = process(&r, "[1:CHILD]");
    assert_eq!(c["kind"], "killed");
    assert_eq!(c["alive"], false);
    assert_eq!(c["exit"]["signal"], "SIGKILL");
    let p = process(&r, "[0:PARENT]");
    assert_eq!(p["kind"], "failed");
    assert!(
        text(&p["error"]["message"]).contains("[1:CHILD] closed the channel while we waited for")
    );
    // By the dead stage's pid too.
    let r2 = diagnose_json(&["--events", &events, &child.to_string()]);
    assert_eq!(r2["container"], case.id.as_str());
    // The viewer, from the same log: the dead stage is marked, with the verdict.
    let (screen, details, s) = diagnose_common::viewer_on(&case.rt.events, child, |s| {
        s.model
            .lane_of_pid(child)
            .is_some_and(|l| s.model.lane(l).diagnosis.is_some())
    });
    let lane = s.model.lane_of_pid(child).unwrap();
    assert!(
        s.model.lane(lane).exit.is_some(),
        "stage_died ends the lane"
    );
    assert!(
        screen.contains(&format!(
            "stuck: [1:CHILD] {child} nothing: killed by SIGKILL"
        )),
        "{screen}"
    );
    assert!(
        details
            .contains("was killed by SIGKILL after its last step `paused at child:before-unshare`"),
        "{details}"
    );
    case.rt.assert_clean(&[&case.bundle.path]);
}

/// A `hook` that never returns: create runs it while init waits for procResume.
fn hook_that_never_returns(hook: &str) {
    let mut case = Case::sleeper(&format!("dg-{}", hook.to_lowercase()), false);
    case.bundle.edit(|c| {
        c["hooks"][hook] = serde_json::json!([{"path": "/bin/sleep", "args": ["sleep", "1000"]}])
    });
    case.spawn_create(None);
    let started = case.wait_event("the hook to start", |e| e["kind"] == "hook_start");
    assert_eq!(started["hook"], hook);
    let h = started["hook_pid"].as_i64().unwrap() as i32;
    let init = case.stage_pid("init");
    let create = case.create_pid();
    std::thread::sleep(Duration::from_millis(1100));
    let r = case.diagnose(&case.id);
    assert_eq!(r["status"], "creating");
    assert_eq!(r["culprit"], h, "{r:#}");
    let v = text(&r["verdict"]);
    assert!(
        v.starts_with(&format!(
            "the {hook} hook `/bin/sleep 1000` (pid {h}) has run for "
        )),
        "{v}"
    );
    assert!(
        v.contains("and not returned; it sleeps in clock_nanosleep"),
        "{v}"
    );
    assert!(text(&r["next"]).starts_with(&format!("kill {h}")));
    let hp = process(&r, &format!("hook {hook}"));
    assert_eq!(hp["pid"], h);
    assert_eq!(hp["hook"]["args"], serde_json::json!(["sleep", "1000"]));
    assert!(hp["hook"]["age_s"].as_f64().unwrap() >= 1.0);
    assert_eq!(hp["since"], "it started");
    // create waits for it (through its pidfd); init waits for create's procResume.
    let c = process(&r, "create");
    assert_eq!(c["kind"], "hook");
    assert_eq!(c["blocked_by"], h);
    assert_eq!(c["waits_on"], format!("the {hook} hook (pid {h})").as_str());
    assert_eq!(c["fd"]["kind"], "pidfd");
    assert!(text(&c["verdict"]).contains(&format!(
        "runs the {hook} hook `/bin/sleep 1000` (pid {h}) and waits for it to exit"
    )));
    let i = process(&r, "[2:INIT]");
    assert_eq!(i["pid"], init);
    assert_eq!(i["waits_on"], "procResume from create");
    assert_eq!(i["blocked_by"], create);
    assert!(
        text(&i["other_end"]).contains(&format!("create (pid {create}")),
        "{i:#}"
    );
    // The hook's own pid leads to the same container.
    let by_pid = case.diagnose(&h.to_string());
    assert_eq!(by_pid["container"], case.id.as_str());
    // The viewer.
    let (screen, details, _) = case.viewer(h);
    assert!(
        screen.contains(&format!(
            "stuck: hook {h} clock_nanosleep (the {hook} hook has not returned) (+2 waiting on it)"
        )),
        "{screen}"
    );
    assert!(
        details.contains(&format!(
            "the {hook} hook `/bin/sleep 1000` (pid {h}) has run for"
        )),
        "{details}"
    );
    // Killed, the hook fails create, which cleans up.
    signal(h, libc::SIGTERM);
    let (st, err) = case.wait_create();
    assert!(!st.success());
    assert!(
        err.contains(&format!(
            "hooks.{hook}[0] (/bin/sleep) failed: killed by SIGTERM"
        )),
        "{err}"
    );
    case.rt.assert_clean(&[&case.bundle.path]);
}

#[test]
fn prestart_hook_that_never_returns() {
    hook_that_never_returns("prestart");
}

#[test]
fn create_runtime_hook_that_never_returns() {
    hook_that_never_returns("createRuntime");
}
