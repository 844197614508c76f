//! Field-named errors for a raw `linux.seccomp` JSON value that the typed config cannot
//! hold: an unknown action, architecture, flag or operator. serde alone says only
//! "unknown variant … at line 40 column 21"; this says which field.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::SeccompError;

const FIELD: &str = "linux.seccomp";

/// Check the raw `linux.seccomp` value (`config["linux"]["seccomp"]`) and return it typed.
/// The first problem found is returned, naming its field; then [`super::compile`] does the
/// semantic checks.
pub fn check_json(v: &Value) -> Result<LinuxSeccomp, SeccompError> {
    let obj = v.as_object().ok_or_else(|| {
        SeccompError::invalid(FIELD, format!("must be an object, not {}", kind(v)))
    })?;
    match obj.get("defaultAction") {
        None => {
            return Err(SeccompError::invalid(
                format!("{FIELD}.defaultAction"),
                "missing (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, …)",
            ))
        }
        Some(a) => one::<LinuxSeccompAction>(a, format!("{FIELD}.defaultAction"), "action")?,
    }
    each::<Arch>(
        obj.get("architectures"),
        &format!("{FIELD}.architectures"),
        "architecture",
    )?;
    each::<LinuxSeccompFilterFlag>(obj.get("flags"), &format!("{FIELD}.flags"), "flag")?;
    if let Some(calls) = obj.get("syscalls") {
        let calls = array(calls, &format!("{FIELD}.syscalls"))?;
        for (i, c) in calls.iter().enumerate() {
            let field = format!("{FIELD}.syscalls[{i}]");
            let c = c.as_object().ok_or_else(|| {
                SeccompError::invalid(&field, format!("must be an object, not {}", kind(c)))
            })?;
            match c.get("names") {
                None => {
                    return Err(SeccompError::invalid(
                        format!("{field}.names"),
                        "missing: a rule needs its syscall names",
                    ))
                }
                Some(n) => {
                    for (j, name) in array(n, &format!("{field}.names"))?.iter().enumerate() {
                        if !name.is_string() {
                            return Err(SeccompError::invalid(
                                format!("{field}.names[{j}]"),
                                format!("must be a string, not {}", kind(name)),
                            ));
                        }
                    }
                }
            }
            match c.get("action") {
                None => {
                    return Err(SeccompError::invalid(
                        format!("{field}.action"),
                        "missing (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, …)",
                    ))
                }
                Some(a) => one::<LinuxSeccompAction>(a, format!("{field}.action"), "action")?,
            }
            if let Some(args) = c.get("args") {
                for (k, a) in array(args, &format!("{field}.args"))?.iter().enumerate() {
                    let field = format!("{field}.args[{k}]");
                    if let Some(op) = a.get("op") {
                        one::<LinuxSeccompOperator>(op, format!("{field}.op"), "operator")?;
                    }
                }
            }
        }
    }
    // Whatever is left (a number where one belongs, a negative errnoRet …): serde's words,
    // still under the seccomp field.
    serde_json::from_value(v.clone()).map_err(|e| SeccompError::invalid(FIELD, e.to_string()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn array<'a>(v: &'a Value, field: &str) -> Result<&'a Vec<Value>, SeccompError> {
    v.as_array()
        .ok_or_else(|| SeccompError::invalid(field, format!("must be an array, not {}", kind(v))))
}

/// One enum value: its own type decides what is known, so this never lags behind oci-spec.
fn one<T: DeserializeOwned>(v: &Value, field: String, what: &str) -> Result<(), SeccompError> {
    match v {
        Value::String(s) => serde_json::from_value::<T>(v.clone())
            .map(|_| ())
            .map_err(|e| {
                // serde: "unknown variant `X`, expected one of `A`, `B`": keep the list.
                let known = e.to_string();
                let known = known
                    .split_once("expected one of ")
                    .map(|(_, k)| k.replace('`', ""))
                    .unwrap_or(known);
                SeccompError::invalid(field, format!("unknown {what} {s:?} (known: {known})"))
            }),
        other => Err(SeccompError::invalid(
            field,
            format!("must be a string, not {}", kind(other)),
        )),
    }
}

fn each<T: DeserializeOwned>(
    v: Option<&Value>,
    field: &str,
    what: &str,
) -> Result<(), SeccompError> {
    let Some(v) = v else { return Ok(()) };
    for (i, x) in array(v, field)?.iter().enumerate() {
        one::<T>(x, format!("{field}[{i}]"), what)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        check_json(&v).unwrap_err().to_string()
    }

    #[test]
    fn unknown_names_are_reported_at_their_field() {
        let e = err(json!({"defaultAction": "SCMP_ACT_BOGUS"}));
        assert!(
            e.starts_with("linux.seccomp.defaultAction: unknown action \"SCMP_ACT_BOGUS\" (known: SCMP_ACT_KILL,"),
            "{e}"
        );
        let e = err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]}),
        );
        assert!(
            e.starts_with("linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_Z80\""),
            "{e}"
        );
        let e =
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}));
        assert!(e.starts_with("linux.seccomp.flags[0]: unknown flag"), "{e}");
        let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_DENY"}]}));
        assert!(
            e.starts_with("linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_DENY\""),
            "{e}"
        );
        let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SIMILAR"}]}]}));
        assert!(
            e.starts_with("linux.seccomp.syscalls[0].args[0].op: unknown operator"),
            "{e}"
        );
    }

    #[test]
    fn shapes_are_checked_too() {
        assert!(err(json!([])).starts_with("linux.seccomp: must be an object"));
        assert!(err(json!({})).starts_with("linux.seccomp.defaultAction: missing"));
        assert!(err(json!({"defaultAction": 1}))
            .starts_with("linux.seccomp.defaultAction: must be a string"));
        assert!(err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]})
        )
        .starts_with("linux.seccomp.syscalls[0].names: missing"));
        assert!(err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [3], "action": "SCMP_ACT_ALLOW"}]}))
            .starts_with("linux.seccomp.syscalls[0].names[0]: must be a string"));
        let e = err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}));
        assert!(e.starts_with("linux.seccomp: "), "{e}");
    }

    #[test]
    fn a_good_profile_comes_back_typed() {
        let s = check_json(
            &json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
        )
        .unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.syscalls().as_ref().unwrap().len(), 1);
    }
}
