//! Model-based test: random sequences of create / deactivate / reactivate / lock / unlock /
//! delete / restart against the real server and against an in-memory model of the contract;
//! every status and every final state must agree.

use crate::helpers::*;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    Inactive,
    Locked,
    Deleted,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Active => "USER_STATE_ACTIVE",
            State::Inactive => "USER_STATE_INACTIVE",
            State::Locked => "USER_STATE_LOCKED",
            State::Deleted => "USER_STATE_DELETED",
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Change(usize, &'static str),
    Restart,
}

const USERS: usize = 3;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..USERS).prop_map(Op::Create),
        12 => (0..USERS, prop::sample::select(vec!["deactivate", "reactivate", "lock", "unlock", "delete"]))
            .prop_map(|(u, a)| Op::Change(u, a)),
        1 => Just(Op::Restart),
    ]
}

/// The contract's answer to `action` on a user in `state` (None: no such user).
fn model_change(state: Option<State>, action: &str) -> (u16, Option<State>) {
    use State::*;
    match state {
        None | Some(Deleted) => (404, state),
        Some(s) => {
            let next = match (action, s) {
                ("reactivate", Inactive) => Some(Active),
                ("deactivate", Active | Locked) => Some(Inactive),
                ("lock", Active) => Some(Locked),
                ("unlock", Locked) => Some(Active),
                ("delete", _) => Some(Deleted),
                _ => None,
            };
            match next {
                Some(n) => (200, Some(n)),
                None => (400, Some(s)),
            }
        }
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut app = spawn_app().await;
    let admin = admin_token();
    let mut model: HashMap<usize, (State, u64)> = HashMap::new();
    for op in ops {
        match op {
            Op::Create(u) => {
                let r = app
                    .post(
                        "/v3alpha/users",
                        &admin,
                        Some(&serde_json::json!({"userId": format!("m{u}"), "organization": {"orgId": "o"}, "schemaId": "s", "data": {}})),
                    )
                    .await;
                let expected = if model.contains_key(&u) { 409 } else { 201 };
                prop_assert_eq!(r.status, expected, "create m{}: {:?}", u, r.body);
                model.entry(u).or_insert((State::Active, 1));
            }
            Op::Change(u, action) => {
                let current = model.get(&u).map(|(s, _)| *s);
                let (status, next) = model_change(current, action);
                let r = app.change(&format!("m{u}"), action, &admin).await;
                prop_assert_eq!(
                    r.status,
                    status,
                    "{} m{} from {:?}: {:?}",
                    action,
                    u,
                    current,
                    r.body
                );
                if status == 200 {
                    let entry = model.get_mut(&u).expect("live user in model");
                    entry.0 = next.expect("next state");
                    entry.1 += 1;
                    prop_assert_eq!(
                        &r.body["details"]["sequence"],
                        &serde_json::json!(entry.1.to_string())
                    );
                }
            }
            Op::Restart => app.restart(),
        }
    }
    for u in 0..USERS {
        let got = app.state_of(&format!("m{u}")).await;
        let want = match model.get(&u) {
            None | Some((State::Deleted, _)) => None,
            Some((s, seq)) => Some((s.name().to_string(), *seq)),
        };
        prop_assert_eq!(got, want, "final state of m{}", u);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn http_api_agrees_with_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run(ops))?;
    }
}
