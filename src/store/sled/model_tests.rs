//! The listing indexes against a model: random histories of creates, lifecycle changes,
//! metadata edits and deletes, then random listings (filters, scopes, paging, order), each compared with the same
//! listing computed from the model's users. `check` must find nothing wrong after any history.

#[cfg(test)]
mod tests {
    use super::super::{Options, SledStore};
    use crate::domain::{
        self, Contact, Email, Filter, HumanProfile, NewUser, Operation, OrgScope, Profile, SortBy,
        TextMatch, TextMethod, Timestamp, User, UserState,
    };
    use crate::store::{Backend, Change, Group, ListQuery};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const ORGS: [&str; 3] = ["o1", "o2", "o3"];
    const NAMES: [&str; 6] = ["ada", "adam", "bob", "Bea", "cy", "ADA"];

    #[derive(Clone, Debug)]
    enum Step {
        Create {
            org: usize,
            name: usize,
            human: bool,
        },
        Change {
            user: usize,
            op: Operation,
        },
        Edit {
            user: usize,
            edit: domain::Edit,
        },
    }

    fn edit() -> impl Strategy<Value = domain::Edit> {
        let key = prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from);
        prop_oneof![
            prop::collection::vec(
                (key.clone(), prop::collection::vec(any::<u8>(), 1..4)),
                1..3
            )
            .prop_map(domain::Edit::SetMetadata),
            prop::collection::vec(key, 1..3).prop_map(domain::Edit::RemoveMetadata),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..ORGS.len(), 0..NAMES.len(), any::<bool>())
                .prop_map(|(org, name, human)| Step::Create { org, name, human }),
            2 => (0usize..64, prop::sample::select(Operation::ALL.to_vec()))
                .prop_map(|(user, op)| Step::Change { user, op }),
            1 => (0usize..64, edit()).prop_map(|(user, edit)| Step::Edit { user, edit }),
        ]
    }

    fn text() -> impl Strategy<Value = TextMatch> {
        (
            prop::sample::select(vec!["ad", "ada", "a", "B", "bob", "@x.io", "cy@x.io", ""]),
            prop::sample::select(vec![
                TextMethod::Equals,
                TextMethod::StartsWith,
                TextMethod::Contains,
                TextMethod::EndsWith,
            ]),
            any::<bool>(),
        )
            .prop_map(|(value, method, ignore_case)| TextMatch {
                value: value.into(),
                method,
                ignore_case,
            })
    }

    fn leaf() -> impl Strategy<Value = Filter> {
        prop_oneof![
            prop::sample::select(ORGS.to_vec())
                .prop_map(|o| Filter::Organization(TextMatch::equals(o))),
            text().prop_map(Filter::Username),
            text().prop_map(Filter::Email),
            prop::collection::vec(0usize..40, 0..4)
                .prop_map(|ids| Filter::Ids(ids.iter().map(|i| format!("u{i:02}")).collect())),
            prop::sample::select(UserState::ALL.to_vec()).prop_map(|s| Filter::States(vec![s])),
        ]
    }

    fn filter() -> impl Strategy<Value = Option<Filter>> {
        let tree = leaf().prop_recursive(2, 6, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::And),
                prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::Or),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        });
        prop::option::of(tree)
    }

    fn scope() -> impl Strategy<Value = OrgScope> {
        prop_oneof![
            Just(OrgScope::Everywhere),
            prop::collection::vec(prop::sample::select(ORGS.to_vec()), 0..3)
                .prop_map(|orgs| OrgScope::Orgs(orgs.into_iter().map(String::from).collect())),
        ]
    }

    fn sort() -> impl Strategy<Value = SortBy> {
        prop::sample::select(vec![
            SortBy::Creation,
            SortBy::Creation,
            SortBy::Username,
            SortBy::Email,
            SortBy::State,
            SortBy::Kind,
            SortBy::GivenName,
        ])
    }

    fn query() -> impl Strategy<Value = ListQuery> {
        (filter(), scope(), 0u64..12, 1u64..8, any::<bool>(), sort()).prop_map(
            |(filter, scope, offset, limit, asc, sort)| ListQuery {
                filter,
                scope,
                offset,
                limit,
                asc,
                sort,
            },
        )
    }

    /// Commit one group and wait for it.
    fn commit(store: &SledStore, shard: usize, changes: Vec<Change>) {
        let (tx, rx) = std::sync::mpsc::channel();
        store.commit(
            Group {
                shard,
                changes,
                deliveries: Vec::new(),
            },
            Box::new(move |outcome| {
                let _ = tx.send(outcome.is_ok());
            }),
        );
        assert_eq!(rx.recv(), Ok(true), "the group committed");
    }

    /// Run `steps` against the store and the model (id → user); usernames stay unique among live
    /// users, as the core keeps them.
    fn replay(store: &SledStore, steps: &[Step]) -> BTreeMap<String, User> {
        let mut model: BTreeMap<String, User> = BTreeMap::new();
        let shards = store.shard_count();
        let mut clock = 1_000i64;
        for step in steps {
            clock += 1_000;
            match step {
                Step::Create { org, name, human } => {
                    let id = format!("u{:02}", model.len());
                    let name = NAMES[*name];
                    let taken = model
                        .values()
                        .any(|u| domain::is_live(u) && u.profile.username() == Some(name));
                    let email = Some(Email {
                        address: format!("{name}@X.io"),
                        is_verified: false,
                    });
                    let profile = if *human && !taken {
                        Profile::V2(Box::new(HumanProfile {
                            username: name.into(),
                            email,
                            ..HumanProfile::default()
                        }))
                    } else {
                        Profile::V3 {
                            schema_id: "s".into(),
                            data_json: "{}".into(),
                            contact: Contact { email, phone: None },
                        }
                    };
                    // Equal creation times for some users: the id breaks the tie.
                    let at = Timestamp(clock - clock % 3_000);
                    let (user, event) = domain::create(
                        NewUser {
                            id: id.clone(),
                            org: ORGS[*org].into(),
                            initial_state: UserState::Active,
                            creator_scope: crate::domain::OrgScope::Everywhere,
                            editor: String::new(),
                            profile,
                        },
                        at,
                    );
                    commit(
                        store,
                        crate::store::shard_of(&id, shards),
                        vec![Change {
                            before: None,
                            event,
                            after: user.clone(),
                        }],
                    );
                    model.insert(id, user);
                }
                Step::Change { user, .. } | Step::Edit { user, .. } => {
                    let Some(before) = model.values().nth(*user % model.len().max(1)).cloned()
                    else {
                        continue;
                    };
                    let at = Timestamp(clock);
                    let event = match step {
                        Step::Change { op, .. } => domain::decide(*op, &before, at).ok(),
                        // Metadata edits are one event at most.
                        Step::Edit { edit, .. } => domain::decide_edit(edit, &before, at)
                            .ok()
                            .and_then(|events| events.into_iter().next()),
                        Step::Create { .. } => None,
                    };
                    let Some(event) = event else {
                        continue;
                    };
                    let after = domain::apply(&before, &event);
                    commit(
                        store,
                        crate::store::shard_of(&before.id, shards),
                        vec![Change {
                            before: Some(before),
                            event,
                            after: after.clone(),
                        }],
                    );
                    model.insert(after.id.clone(), after);
                }
            }
        }
        model
    }

    /// The listing computed from the model.
    fn expected(model: &BTreeMap<String, User>, q: &ListQuery) -> (u64, Vec<String>) {
        let mut found: Vec<&User> = model
            .values()
            .filter(|u| domain::is_live(u) && q.scope.allows(&u.org))
            .filter(|u| q.filter.as_ref().is_none_or(|f| f.keeps(u)))
            .collect();
        found.sort_by(|a, b| {
            (q.sort.value(a), a.created_at, &a.id).cmp(&(q.sort.value(b), b.created_at, &b.id))
        });
        if !q.asc {
            found.reverse();
        }
        let total = found.len() as u64;
        let page = found
            .into_iter()
            .skip(q.offset as usize)
            .take(q.limit as usize)
            .map(|u| u.id.clone())
            .collect();
        (total, page)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn listings_match_the_model(
            steps in prop::collection::vec(step(), 1..60),
            queries in prop::collection::vec(query(), 12),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = SledStore::open(dir.path(), Options::offline(4, 1 << 20)).unwrap();
            let model = replay(&store, &steps);
            for q in &queries {
                let page = block_on(store.list(q.clone())).unwrap();
                let got: Vec<String> = page.users.iter().map(|u| u.id.clone()).collect();
                let (total, want) = expected(&model, q);
                prop_assert_eq!(&got, &want, "{:?}", q);
                prop_assert_eq!(page.total, total, "{:?}", q);
                for user in &page.users {
                    prop_assert_eq!(Some(user), model.get(&user.id), "records are the durable ones");
                }
            }
            let report = store.check(10).unwrap();
            prop_assert!(report.is_ok(), "{}", report);
        }
    }

    /// Wait for a listing (a scan finishes on another thread).
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(f)
    }
}
