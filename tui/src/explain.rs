//! What each step means, for someone learning how a container starts. Written from runc's
//! behaviour (libcontainer/nsenter/nsexec.c and libcontainer's init), with notes where
//! runc 1.1 (Debian's) and current runc differ, and where the kernel's view of a step is
//! not what runc would do.

use initscope_probe::schema::{KernelEvent, KernelKind};
use initscope_runtime::events::schema::{EventKind, RuntimeEvent, Stage};

use crate::event::Event;
use crate::labels::short_flags;
use crate::model::{Model, RuntimeKind, Seq};

/// Paragraphs explaining event `seq`.
pub fn explain(m: &Model, seq: Seq, ev: &Event) -> Vec<String> {
    let mut out = match ev {
        Event::Runtime(e) => runtime(e),
        Event::Kernel(e) => kernel(m, seq, e),
    };
    out.extend(differences(m, seq, ev));
    out
}

fn stage_role(stage: Stage) -> &'static str {
    match stage {
        Stage::Create => "`create` is the runtime's command-line process (what `runc create` is). It reads config.json, prepares the cgroup, starts stage 0 and then waits, outside the container, until init says it is ready; then it writes the state \"created\" and exits.",
        Stage::Parent => "[0:PARENT] is stage 0 of the bootstrap (nsexec.c's STAGE_PARENT). It stays in the host's namespaces on purpose: from there it can do what a process inside a new user namespace cannot — write the child's uid_map/gid_map — and it relays the pids of the later stages back to create.",
        Stage::Child => "[1:CHILD] is stage 1 (STAGE_CHILD). It joins the namespaces config.json names by path (setns), creates the new ones (unshare), and then clones once more, because a new PID namespace only applies to children born after the unshare.",
        Stage::Init => "[2:INIT] is stage 2 (STAGE_INIT): PID 1 of the new PID namespace, the container's init. It prepares the root filesystem, drops privileges, and finally execs the user's program in place — same pid, so the program becomes PID 1.",
        Stage::Start => "`start` is a separate command, run later (by you, podman, containerd). It opens exec.fifo for reading, which releases init to exec the user's program.",
        Stage::Exec => "`exec` plays create's role for a process joining a running container (what `runc exec` is): it starts the same stages, but stage 1 joins every namespace of the container with setns instead of creating new ones, and stage 2 — inside the container's PID namespace because setns(CLONE_NEWPID), like unshare, only applies to children — is the new process, with whatever pid the namespace gives it (never 1).",
        Stage::Hook => "A hook: a program from config.json's `hooks` that the runtime runs at a fixed point of the lifecycle, with the container's state on its stdin.",
        _ => "A runtime command acting on an existing container.",
    }
}

fn sync_text(msg: &str, stage: Stage) -> Option<&'static str> {
    Some(match msg {
        "BOOTSTRAP_DATA" => "create sends stage 0 the bootstrap data: clone flags, namespace paths to join, uid/gid maps, oom_score_adj (runc packs them as netlink attributes on the init pipe). Stage 0 is in the container's cgroup before it clones anything, so every later stage is born inside it.",

        "SYNC_USERMAP_PLS" => "Stage 1 has unshared its user namespace and asks stage 0: \"write my uid_map and gid_map\". Inside the new namespace it has no identity yet (it shows as nobody), and a process may only map its own single uid into itself. A full map needs CAP_SETUID/CAP_SETGID in the *parent* user namespace — which stage 0, still outside, has.",
        "SYNC_USERMAP_ACK" => "Stage 0 wrote the maps. Stage 1 can now setresuid(0)/setresgid(0) and is root inside its user namespace, with capabilities over the namespaces it creates next.",
        "SYNC_RECVPID_PLS" => "Stage 1 sends stage 0 the pid of init (stage 2), as clone returned it — a host pid, since stage 1 itself is still in the old PID namespace. Stage 0 relays it to create, which needs init's host pid for `state`, `kill` and the pid file.",
        "SYNC_RECVPID_ACK" => "Stage 0 got init's pid.",
        "STAGE_PIDS" => "Stage 0 tells create the pids of stage 1 and stage 2 (runc writes {\"stage1_pid\":…,\"stage2_pid\":…} on the init pipe). From now on create knows which host process is the container's PID 1.",
        "SYNC_CHILD_FINISH" if stage == Stage::Child => "Stage 1 is done: its only job was to create namespaces and the process that lives in them. It exits now; thanks to CLONE_PARENT, create, not stage 1, is init's parent.",
        "SYNC_CHILD_FINISH" => "Init tells stage 0 it has finished the early bootstrap; stage 0 has nothing left to do and exits. (In runc, init now returns from the C constructor nsexec() into Go: `runc init` proper.)",
        "SYNC_GRANDCHILD" => "Stage 0 releases init. Init waited for this so that its pid was delivered to create before it does anything that create might need to watch.",
        "SYNC_TIMEOFFSETS_PLS" => "Stage 1 asks stage 0 to write the time namespace offsets (/proc/PID/timens_offsets) before any process enters the new time namespace. (Current runc only; runc 1.1 has no time namespace support.)",
        "SYNC_TIMEOFFSETS_ACK" => "Stage 0 wrote the time offsets.",
        "procHooks" => "Init has mounted the root filesystem but not yet pivoted into it. It stops and asks create to run the prestart and createRuntime hooks (in the runtime's namespaces, with the container's pid known), e.g. to set up networking.",
        "procResume" => "create ran the hooks; init carries on.",
        "procReady" => "Init is ready: everything except the final exec is done. create writes the state \"created\" and exits; init stays behind, blocked on exec.fifo.",
        "procError" => "Init failed and sends create the error; create reports it, kills what is left and removes the container.",
        "procSeccomp" => "Init sends create the seccomp notify fd (for a seccomp agent listening on config.json's listenerPath).",
        "procSeccompDone" => "create passed the seccomp fd on.",
        _ => return None,
    })
}

fn runtime(e: &RuntimeEvent) -> Vec<String> {
    let mut out = Vec::new();
    match &e.kind {
        EventKind::StageStart { comm, .. } => {
            out.push(stage_role(e.stage).to_string());
            if comm.contains(":[") {
                out.push(format!("It names itself {comm} (prctl PR_SET_NAME) so that `ps` shows which stage is which, as runc's runc:[0:PARENT] … do."));
            }
        }
        EventKind::Clone { flags_raw, child_stage, .. } => out.push(match child_stage {
            Stage::Parent if flags_raw & 0x2_0000_0000 != 0 => "create starts stage 0 with clone3(CLONE_INTO_CGROUP): the new process is born directly in the container's cgroup2, with no moment outside it. (runc runs itself again as `runc init` instead; its C constructor nsexec() does the bootstrap before Go starts threads, which would make unshare(CLONE_NEWUSER) impossible.)".to_string(),
            Stage::Parent => "create starts stage 0. runc does this by running itself again as `runc init`; the C constructor nsexec() runs before Go starts, because Go's threads make unshare(CLONE_NEWUSER) and setns into some namespaces impossible.".to_string(),
            Stage::Child => "Stage 0 clones stage 1 with CLONE_PARENT: the kernel makes the new process a child of stage 0's parent — create — instead of stage 0. All stages end up children of create, which waits for them and reaps them; stage 0 can exit early without orphaning anything.".to_string(),
            Stage::Init => "The second clone — the \"double clone\". unshare(CLONE_NEWPID) does not move the caller into the new PID namespace: it only chooses the namespace its future children are born in (/proc/self/ns/pid_for_children). So stage 1 must clone again; the new process is PID 1 of the new namespace. CLONE_PARENT again makes create its parent, so create — outside the container — will reap the container's PID 1.".to_string(),
            Stage::Hook => "create starts a hook process.".to_string(),
            _ => format!("A new process with {}.", short_flags(*flags_raw)),
        }),
        EventKind::Unshare { flags_raw, .. } => out.push(unshare_text(*flags_raw, e.stage)),
        EventKind::Setns { path, nstype } => out.push(format!(
            "Joins an existing {nstype} namespace by path ({path}), as config.json asks (a pod's shared network namespace, for example). runc joins namespaces in stage 1 before creating new ones, the user namespace first so that the others are joined with its privileges."
        )),
        EventKind::SyncSend { msg, .. } | EventKind::SyncRecv { msg, .. } => {
            let sender = if matches!(e.kind, EventKind::SyncSend { .. }) { e.stage } else { peer(&e.kind) };
            if let Some(t) = sync_text(msg, sender) {
                out.push(t.to_string());
            }
            out.push("Stages talk over socketpairs and pipes with one-byte messages (runc's SYNC_* values, 0x40…0x47) and, between init and create, JSON messages (procHooks, procReady …). Each side blocks until the other answers — which is why a stuck stage is usually waiting for a message.".to_string());
        }
        EventKind::UidMap { target_pid, lines } => out.push(format!(
            "Stage 0 writes /proc/{target_pid}/uid_map ({}). The map says which host uids the user namespace's uids stand for. It can be written once, by a process with CAP_SETUID in the parent user namespace — stage 0 is still there. Until it is written, the child is nobody inside its own namespace.",
            lines.join("; ")
        )),
        EventKind::GidMap { target_pid, setgroups, .. } => out.push(format!(
            "Stage 0 writes /proc/{target_pid}/gid_map.{} An unprivileged writer must first write \"deny\" to setgroups, so that nobody can drop supplementary groups to get around group-based denials.",
            setgroups.as_ref().map(|s| format!(" setgroups was set to {s:?} first.")).unwrap_or_default()
        )),
        EventKind::TimeOffsets { target_pid, lines } => out.push(format!(
            "Stage 0 writes /proc/{target_pid}/timens_offsets ({}): the clocks of stage 1's new time namespace are shifted before any process enters it — afterwards the kernel refuses. Init, cloned next, is the first process in it, and sees CLOCK_MONOTONIC and CLOCK_BOOTTIME (/proc/uptime) moved by these offsets. (Current runc; runc 1.1 has no time namespaces.)",
            lines.join("; ")
        )),
        EventKind::CgroupJoin { .. } => out.push("The process is moved into the container's cgroup (on every hierarchy) before the next stages are cloned, so they are born inside it, accounted and limited from their first instruction. runc's create moves stage 0 in from outside; initscope-runtime makes stage 0 inside cgroup2 (clone3 with CLONE_INTO_CGROUP) and stage 0 joins the v1 hierarchies here itself.".to_string()),
        EventKind::Mount { fstype, flags, .. }
            if fstype.is_empty()
                && flags.iter().any(|f| ["MS_SHARED", "MS_SLAVE", "MS_PRIVATE", "MS_UNBINDABLE"].contains(&f.as_str())) =>
        {
            out.push("A propagation change, not a new mount (mount --make-rslave /): the first thing init does in its new mount namespace. As a copy of the host's, every mount in it is still shared with the host; made slave (config.json's rootfsPropagation, rslave by default as in runc), mounts the container makes stay inside it while the host's new mounts still reach in.".to_string())
        }
        EventKind::Mount { flags, .. }
            if flags.iter().any(|f| ["OPEN_TREE_CLONE", "+MOUNT_ATTR_IDMAP", "MOVE_MOUNT_F_EMPTY_PATH"].contains(&f.as_str())) =>
        {
            out.push(id_mapped_text(flags))
        }
        EventKind::Mount { flags, .. }
            if flags.iter().any(|f| f == "MS_REMOUNT" || f.starts_with('+') || f.starts_with('-')) =>
        {
            out.push("A remount: the mount stays where it is and only its flags change — read-only for a read-only root (root.readonly), for readonlyPaths (/proc/sys, /proc/bus …) and for mounts asked to be ro once they are filled. A bind mount cannot be made read-only in the same call that makes it, so runc (and this runtime) bind first and remount after.".to_string())
        }
        EventKind::Mount { .. } | EventKind::Device { .. } | EventKind::Symlink { .. } => out.push("Init prepares the root filesystem inside its new mount namespace: it bind-mounts the rootfs onto itself (pivot_root needs a mount point), mounts /proc, a tmpfs on /dev, devpts, shm, mqueue, sysfs and cgroup as config.json lists them, creates the device nodes (or bind-mounts them in a user namespace, where mknod is not allowed) and the /dev/fd, /dev/std* symlinks.".to_string()),
        EventKind::MaskPath { .. } | EventKind::ReadonlyPath { .. } => out.push("After the pivot, paths that would leak or change host state are hidden (/dev/null bound over files, an empty read-only tmpfs over directories: maskedPaths) or remounted read-only (readonlyPaths) — /proc/kcore, /proc/sys and friends.".to_string()),
        EventKind::PivotRoot { method, .. } => out.push(if method == "pivot_root" {
            "Init switches its root to the container's rootfs with pivot_root(\".\", \".\") and then unmounts the old root, which was stacked under the new one — runc's trick that needs no temporary put_old directory. The host's filesystem is no longer reachable.".to_string()
        } else {
            "With --no-pivot, init moves the rootfs onto / and chroots (MS_MOVE + chroot). The old root stays reachable for a process that escapes the chroot; runc warns about this mode.".to_string()
        }),
        EventKind::Hostname { .. } | EventKind::Domainname { .. } => out.push("Set in the container's own UTS namespace; the host's name does not change.".to_string()),
        EventKind::Sysctl { .. } => out.push("A namespaced sysctl written for the container (only keys that belong to its namespaces are allowed).".to_string()),
        EventKind::User { .. } => out.push("The identity the program will run as (config.json's process.user): setgroups, setgid, setuid — in that order, since after setuid it could not change groups any more.".to_string()),
        EventKind::Caps { .. } => out.push("Capabilities are cut down to config.json's sets: the bounding set first (it can only shrink), then inheritable, permitted, effective and ambient. What is not listed is gone for good for this process and its children.".to_string()),
        EventKind::NoNewPrivs {} => out.push("PR_SET_NO_NEW_PRIVS: from now on execve can never grant privileges (setuid bits and file capabilities are ignored). Needed to load a seccomp filter without CAP_SYS_ADMIN.".to_string()),
        EventKind::Seccomp { .. } => out.push("The seccomp filter is loaded as late as possible, so the runtime's own setup syscalls are not filtered; runc loads it right before exec when it can.".to_string()),
        EventKind::OomScoreAdj { .. } => out.push("oom_score_adj is set early (runc does it in stage 0) because once the process is made non-dumpable it can no longer write its own /proc files.".to_string()),
        EventKind::Rlimit { .. } => out.push("Resource limits from config.json's process.rlimits; raising a hard limit needs CAP_SYS_RESOURCE (which this machine does not grant).".to_string()),
        EventKind::CgroupSet { .. } => out.push("A cgroup resource limit written (memory, pids, cpu …).".to_string()),
        EventKind::HookStart { hook, .. } | EventKind::Hook { hook, .. } => out.push(format!(
            "A {hook} hook runs; the runtime waits for it (with its timeout) before going on. A hook that never returns holds the whole bootstrap here."
        )),
        EventKind::Console { pty, .. } => out.push(format!(
            "config.json asks for a terminal: init makes a pty from the container's own /dev/ptmx, sends the master to --console-socket (the caller — conmon, containerd — holds it), and makes the slave ({pty}) its stdio, controlling terminal and /dev/console. runc does it the same way."
        )),
        EventKind::WaitStart { fifo } => out.push(format!(
            "Init opens {fifo} for writing. Opening a FIFO for writing blocks until someone opens it for reading — that is what `start` does. This is how runc splits create from start: namespaces, cgroup and PID 1 exist, but the user's program has not run. A container sitting in \"created\" is waiting right here, and that is normal."
        )),
        EventKind::Exec { .. } => out.push("Init calls execve: the runtime's code is replaced by the user's program in the same process, so the program is PID 1 of the container and inherits everything set up so far (namespaces, cgroup, rootfs, capabilities, seccomp). runc execs from Go after `start` opened the FIFO, and first checks the binary exists so that errors are reported before the point of no return.".to_string()),
        EventKind::State { status } => out.push(match status.as_str() {
            "creating" => "The container's state is \"creating\" while the bootstrap runs.".to_string(),
            "created" => "State \"created\": the container exists and init waits on exec.fifo for `start`.".to_string(),
            "running" => "State \"running\": the user's program runs.".to_string(),
            "stopped" => "State \"stopped\": the container's PID 1 has exited.".to_string(),
            other => format!("State {other:?}."),
        }),
        EventKind::Signal { .. } => out.push("A signal sent to the container's process (kill).".to_string()),
        EventKind::Paused { step } => out.push(format!(
            "This stage stopped itself with SIGSTOP at {step} because INITSCOPE_PAUSE_AT asked for it (for teaching and tests). Press c to send it SIGCONT."
        )),
        EventKind::StageExit { status, dropped } => {
            out.push(match e.stage {
                Stage::Child => "Stage 1 exits; the namespaces it created live on in init.".to_string(),
                Stage::Parent => "Stage 0 exits: the early bootstrap is over.".to_string(),
                Stage::Create => "create exits. The container lives on without it: init is not its child any more once create is gone (it is re-parented to the nearest subreaper, or PID 1).".to_string(),
                _ => format!("Exits with status {status}."),
            });
            if *dropped > 0 {
                out.push(format!("{dropped} events of this process could not be streamed live (the viewer's socket was full); the container's events.jsonl still has them."));
            }
        }
        EventKind::StageDied { dead_stage, dead_pid, signal, exit_status, last_step } => out.push(format!(
            "create saw {} (pid {dead_pid}) {} after its last step, {last_step:?}, without a word from it — a stage cannot report its own SIGKILL. Its peers read end-of-file on their channels and give up; create kills what is left, removes the cgroup and the state directory, and fails.",
            crate::model::roles::stage_title(*dead_stage),
            match (signal, exit_status) {
                (Some(s), _) => format!("killed by {s}"),
                (None, Some(c)) => format!("exit with status {c}"),
                _ => "die".to_string(),
            }
        )),
        EventKind::Error { step, message, errno } => out.push(format!(
            "Step {step:?} failed{}: {message}. In runc the failing stage reports the error to its parent over the sync channel and exits; create then cleans up.",
            errno.map(|n| format!(" (errno {n})")).unwrap_or_default()
        )),
        EventKind::Other => out.push("An event kind this viewer does not know (written by a newer runtime).".to_string()),
    }
    out
}

fn peer(kind: &EventKind) -> Stage {
    match kind {
        EventKind::SyncSend { peer, .. } | EventKind::SyncRecv { peer, .. } => *peer,
        _ => Stage::Unknown,
    }
}

fn unshare_text(flags: u64, stage: Stage) -> String {
    const NEWUSER: u64 = 0x1000_0000;
    const NEWPID: u64 = 0x2000_0000;
    const NEWCGROUP: u64 = 0x0200_0000;
    if flags == NEWUSER {
        return "Stage 1 creates its user namespace first and alone: the other namespaces it creates next will be owned by it, so root inside the container has capabilities over them but not over the host's. Right after this it has no uid map — it must ask its parent to write one.".to_string();
    }
    if flags == NEWCGROUP && stage == Stage::Init {
        return "Init creates its cgroup namespace. runc 1.1 does this here, in stage 2 after SYNC_GRANDCHILD, once create has put it in its cgroup; current runc does it in stage 1 with the other namespaces, since create joins the cgroup before the bootstrap starts.".to_string();
    }
    let mut s = format!("New namespaces: {}.", short_flags(flags));
    if flags & NEWPID != 0 {
        s.push_str(" NEWPID is special: the caller stays in its PID namespace; only processes it creates afterwards are born in the new one (see pid_for_children in the namespaces pane). That is why stage 1 clones once more.");
    }
    if flags & NEWCGROUP != 0 {
        s.push_str(" The cgroup namespace makes the container's cgroup look like the root in /proc/self/cgroup (current runc unshares it here; runc 1.1 did it later, in stage 2).");
    }
    s
}

fn kernel(m: &Model, seq: Seq, e: &KernelEvent) -> Vec<String> {
    let mut out = Vec::new();
    match &e.kind {
        KernelKind::Fork { child_tgid, parent_tgid, syscall, flags_raw, .. } => {
            out.push(format!(
                "The kernel saw {} (pid {}) call {syscall} with {}: process {child_tgid} is born.",
                e.comm, e.tgid, if *flags_raw & !0xff == 0 { "no clone flags (a plain fork)".to_string() } else { short_flags(*flags_raw) }
            ));
            if parent_tgid != &e.tgid {
                out.push(format!(
                    "Its parent is {parent_tgid}, not the caller: that is CLONE_PARENT — the new process becomes a sibling of its creator, a child of the creator's parent."
                ));
            }
            let new_ns = flags_raw & 0x7e02_0080;
            if new_ns != 0 && matches!(k_child_ns_pid(&e.kind), Some(1)) {
                out.push(format!(
                    "One clone straight into new namespaces ({}): unlike unshare(CLONE_NEWPID), clone(CLONE_NEWPID) puts the new process itself into the new PID namespace, as its PID 1 — no second clone is needed. This is how crun starts a container; runc instead unshares in stage 1 and clones again (the \"double clone\"), so that its stage 0 can write the id maps from outside.",
                    short_flags(new_ns)
                ));
            }
            if flags_raw & 0x4100 == 0x4100 {
                out.push("CLONE_VM|CLONE_VFORK is how Go's os/exec starts a program (posix_spawn-style vfork): the caller is suspended until the child execs. runc starts `runc init` this way.".to_string());
            }
        }
        KernelKind::CloneExit { ret, errno, .. } => out.push(match errno {
            Some(er) => format!("The clone failed: {er}."),
            None => format!("clone returned {ret} in the caller."),
        }),
        KernelKind::Unshare { flags_raw, ret, errno, .. } => {
            let stage = e_stage(m, seq);
            out.push(if *ret < 0 {
                format!("unshare({}) failed: {}.", short_flags(*flags_raw), errno.as_deref().unwrap_or("error"))
            } else {
                unshare_text(*flags_raw, stage)
            });
            out.push("The namespaces pane shows the inode numbers before and after: a new namespace is a new inode.".to_string());
        }
        KernelKind::Setns { nstype_raw, ret, errno, .. } => out.push(if *ret < 0 {
            format!("setns failed: {}.", errno.as_deref().unwrap_or("error"))
        } else {
            format!("The process joined an existing {} namespace through an fd.", if *nstype_raw == 0 { "(any type)".to_string() } else { short_flags(*nstype_raw) })
        }),
        KernelKind::Exec { filename, argv, .. } if filename == "/proc/self/exe" && argv.get(1).is_some_and(|a| a == "init") => out.push(
            "runc starts `runc init` by executing itself (/proc/self/exe) with the argument `init`; the C constructor nsexec() runs the bootstrap before Go's runtime starts its threads.".to_string(),
        ),
        KernelKind::Exec { filename, argv, .. }
            if (filename.starts_with("/dev/fd/") || filename.starts_with("/proc/self/fd/")) && argv.get(1).is_some_and(|a| a == "init") =>
        {
            out.push(
            "runc executes itself once more, from a sealed in-memory copy of its binary (memfd): a container process that reaches /proc/self/exe then finds the copy, not the host's runc (the CVE-2019-5736 protection of runc 1.1). Current runc avoids the copy where it can.".to_string(),
            )
        }
        KernelKind::Exec { filename, ret, errno, .. } => out.push(if *ret < 0 {
            format!("execve {filename} failed: {}.", errno.as_deref().unwrap_or("error"))
        } else {
            format!("The kernel replaced the process image with {filename}: same pid, new program (its comm is now {}).", e.comm)
        }),
        KernelKind::Exit { code, signal, .. } => out.push(match (code, signal) {
            (_, Some(s)) => format!("Killed by {s}."),
            (Some(0), _) => "Exited normally (status 0).".to_string(),
            (Some(c), _) => format!("Exited with status {c}: an error, unless the program means otherwise."),
            _ => "Exited.".to_string(),
        }),
        KernelKind::Rename { new_comm, .. } if crate::model::roles::stage_from_comm(new_comm).is_some() => out.push(format!(
            "The process renamed itself to {new_comm} (prctl PR_SET_NAME; comm holds at most 15 bytes). runc names its stages runc:[0:PARENT], runc:[1:CHILD], runc:[2:INIT] — that is how initscope recognises them for any runtime."
        )),
        KernelKind::Rename { new_comm, .. } => out.push(format!(
            "The process renamed itself to {new_comm} (prctl PR_SET_NAME): same program, new name — busybox does this as it runs one applet after another."
        )),
        KernelKind::Namespaces { .. } => out.push("A snapshot of the process's namespaces (inode numbers of /proc/PID/ns/*), taken when tracking began.".to_string()),
        KernelKind::Lost { count } => out.push(format!("The probe's ring buffer was full: {count} kernel events were dropped. The diagram may miss steps; nothing is invented to fill the gap.")),
        KernelKind::Other => out.push("A kernel event kind this viewer does not know.".to_string()),
    }
    out
}

fn k_child_ns_pid(k: &KernelKind) -> Option<i32> {
    match k {
        KernelKind::Fork { child_ns_pid, .. } => Some(*child_ns_pid),
        _ => None,
    }
}

fn e_stage(m: &Model, seq: Seq) -> Stage {
    m.events
        .get(seq as usize)
        .and_then(|e| e.stage)
        .unwrap_or(Stage::Unknown)
}

/// Where what the kernel saw is not what runc would do.
fn differences(m: &Model, seq: Seq, ev: &Event) -> Vec<String> {
    let mut out = Vec::new();
    let Some(meta) = m.events.get(seq as usize) else {
        return out;
    };
    let Some(lane) = meta.lane else { return out };
    let l = m.lane(lane);
    if let Event::Kernel(k) = ev {
        if let KernelKind::Fork {
            syscall, flags_raw, ..
        } = &k.kind
        {
            let stage_clone =
                matches!(meta.stage, Some(Stage::Parent | Stage::Child)) && flags_raw & 0x8000 != 0;
            if stage_clone && syscall != "clone" {
                out.push(format!("Differs from runc: runc's nsexec uses clone(2) (via a small clone_parent helper with its own stack); this runtime used {syscall}. The effect is the same."));
            }
        }
    }
    if l.role == Some(Stage::Init)
        && l.ns_pid.is_some_and(|p| p != 1)
        && matches!(
            ev,
            Event::Runtime(RuntimeEvent {
                kind: EventKind::StageStart { .. },
                ..
            })
        )
    {
        out.push(format!(
            "Init is pid {} in its PID namespace, not 1: config.json does not ask for a new PID namespace, so the container shares one with its creator.",
            l.ns_pid.unwrap_or(0)
        ));
    }
    if l.runtime == Some(RuntimeKind::Runc)
        && matches!(
            ev,
            Event::Kernel(KernelEvent {
                kind: KernelKind::Unshare {
                    flags_raw: 0x0200_0000,
                    ..
                },
                ..
            })
        )
        && l.role == Some(Stage::Init)
    {
        out.push("This is runc 1.1's order. With current runc you would see CLONE_NEWCGROUP in stage 1's unshare instead.".to_string());
    }
    out
}

/// The three steps of an id-mapped bind mount (config.json's uidMappings/gidMappings or
/// the idmap option), as runc ≥ 1.2 and initscope-runtime make it.
fn id_mapped_text(flags: &[String]) -> String {
    let has = |f: &str| flags.iter().any(|x| x == f);
    if has("OPEN_TREE_CLONE") {
        "An id-mapped bind mount, step 1: on the host side (create, before the stages exist, where the source is visible and the runtime is privileged) open_tree(OPEN_TREE_CLONE) copies the source mount into a detached mount that belongs to no namespace yet and lives as long as its file descriptor.".to_string()
    } else if has("+MOUNT_ATTR_IDMAP") {
        "Step 2: mount_setattr(MOUNT_ATTR_IDMAP) gives the detached mount an idmapping, taken from a user namespace that a short-lived helper process unshared and whose uid_map/gid_map the runtime wrote. Through this mount a file stored as owned by containerID+n appears owned by hostID+n, and writes are stored mapped back — no chown of the files. The descriptor is inherited down to init.".to_string()
    } else {
        "Step 3: init attaches the id-mapped tree at its place in the mount order with move_mount — the same idea as runc passing mount file descriptors to its init.".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;
    use initscope_runtime::bootstrap::sync::SyncMsg;

    #[test]
    fn every_sync_message_has_its_meaning() {
        for m in SyncMsg::ALL {
            assert!(sync_text(m.name(), Stage::Child).is_some(), "{}", m.name());
        }
    }

    #[test]
    fn every_event_of_a_bootstrap_is_explained_and_clone_parent_is_named() {
        for evs in [
            synth::initscope_bootstrap(synth::Options::default()),
            synth::runc_run(7000, 1),
        ] {
            let m = Model::from_events(&evs);
            for (i, e) in evs.iter().enumerate() {
                let text = explain(&m, i as Seq, e);
                assert!(
                    !text.is_empty() && text.iter().all(|p| p.len() > 10),
                    "{e:?}"
                );
            }
            // The kernel's fork of [2:INIT] says why its parent is not its creator.
            let (i, fork) = evs
                .iter()
                .enumerate()
                .rfind(|(_, e)| matches!(e, Event::Kernel(k) if matches!(k.kind, KernelKind::Fork { flags_raw, .. } if flags_raw & 0x8000 != 0)))
                .unwrap();
            assert!(explain(&m, i as Seq, fork)
                .iter()
                .any(|p| p.contains("CLONE_PARENT")));
        }
    }

    #[test]
    fn the_steps_of_an_id_mapped_mount_are_not_called_remounts() {
        use initscope_runtime::events::schema::{RuntimeEvent, RuntimeSource, SCHEMA_VERSION};
        let steps = [
            (Stage::Create, vec!["OPEN_TREE_CLONE"], "open_tree"),
            (Stage::Create, vec!["+MOUNT_ATTR_IDMAP"], "MOUNT_ATTR_IDMAP"),
            (
                Stage::Init,
                vec!["MOVE_MOUNT_F_EMPTY_PATH", "MOVE_MOUNT_T_EMPTY_PATH"],
                "move_mount",
            ),
        ];
        for (stage, flags, want) in steps {
            let e = Event::Runtime(RuntimeEvent {
                v: SCHEMA_VERSION,
                ts_ns: 1,
                source: RuntimeSource::Runtime,
                container: "c".into(),
                exec_id: None,
                stage,
                pid: 5,
                kind: EventKind::Mount {
                    source: String::new(),
                    destination: "/data".into(),
                    fstype: String::new(),
                    flags: flags.iter().map(|f| f.to_string()).collect(),
                    data: "uids=0-1000-1;gids=0-1000-1".into(),
                },
            });
            let m = Model::from_events(std::slice::from_ref(&e));
            let text = explain(&m, 0, &e).join(" ");
            assert!(text.contains(want), "{flags:?}: {text}");
            assert!(!text.contains("A remount"), "{flags:?}: {text}");
        }
    }
}
