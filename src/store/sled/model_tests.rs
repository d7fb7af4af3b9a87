//! The listing indexes and the histories against a model: random histories of creates,
//! lifecycle changes, metadata edits and deletes, then random listings (filters, scopes, paging,
//! order), each compared with the same listing computed from the model's users, and every
//! user's events (records' tails and chunks) compared with the model's. `check` must find
//! nothing wrong after any history.

#[cfg(test)]
mod tests {
    use super::super::{Options, SledStore};
    use crate::domain::Event;
    use crate::domain::{
        self, Contact, Email, Filter, HumanProfile, NewUser, Operation, OrgScope, Profile, SortBy,
        TextMatch, TextMethod, Timestamp, User, UserState,
    };
    use crate::store::{Backend, Change, EventQuery, Group, Imported, ListQuery};
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
        let also = prop::option::of((0usize..40).prop_map(|i| format!("u{i:02}")));
        (
            filter(),
            scope(),
            0u64..12,
            1u64..8,
            any::<bool>(),
            sort(),
            also,
        )
            .prop_map(
                |(filter, scope, offset, limit, asc, sort, also)| ListQuery {
                    filter,
                    scope,
                    offset,
                    limit,
                    asc,
                    sort,
                    also,
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

    /// Run `steps` against the store and the model (id → user, id → events); usernames stay
    /// unique among live users, as the core keeps them.
    fn replay(
        store: &SledStore,
        steps: &[Step],
    ) -> (BTreeMap<String, User>, BTreeMap<String, Vec<Event>>) {
        let mut model: BTreeMap<String, User> = BTreeMap::new();
        let mut histories: BTreeMap<String, Vec<Event>> = BTreeMap::new();
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
                            event: event.clone(),
                            after: user.clone(),
                        }],
                    );
                    histories.insert(id.clone(), vec![event]);
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
                            event: event.clone(),
                            after: after.clone(),
                        }],
                    );
                    histories.entry(after.id.clone()).or_default().push(event);
                    model.insert(after.id.clone(), after);
                }
            }
        }
        (model, histories)
    }

    /// Every event the store's search finds (one user's, or everyone's), by user, in sequence
    /// order.
    fn stored_histories(store: &SledStore, user_id: Option<&str>) -> BTreeMap<String, Vec<Event>> {
        let query = EventQuery {
            user_id: user_id.map(str::to_string),
            org: None,
            editor: None,
            types: Vec::new(),
            after_sequence: 0,
            since: None,
            until: None,
            scope: OrgScope::Everywhere,
            asc: true,
            limit: 100_000,
        };
        let mut found: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for stored in block_on(store.events(query)).unwrap() {
            found.entry(stored.user_id).or_default().push(stored.event);
        }
        for events in found.values_mut() {
            events.sort_by_key(|e| e.sequence);
        }
        found
    }

    /// The listing computed from the model.
    fn expected(model: &BTreeMap<String, User>, q: &ListQuery) -> (u64, Vec<String>) {
        let mut found: Vec<&User> = model
            .values()
            .filter(|u| {
                domain::is_live(u)
                    && (q.scope.allows(&u.org) || q.also.as_deref() == Some(u.id.as_str()))
            })
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
            let (model, histories) = replay(&store, &steps);
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
            prop_assert_eq!(&stored_histories(&store, None), &histories, "everyone's events");
            for (id, events) in &histories {
                let one = stored_histories(&store, Some(id));
                prop_assert_eq!(one.get(id), Some(events), "the events of {}", id);
            }
            let report = store.check(10).unwrap();
            prop_assert!(report.is_ok(), "{}", report);
        }
    }

    #[test]
    fn a_reset_forgets_the_tails_its_actors_read_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Options::offline(4, 1 << 20)).unwrap();
        let new_user = || NewUser {
            id: "x".into(),
            org: "o1".into(),
            initial_state: UserState::Active,
            creator_scope: OrgScope::Everywhere,
            editor: String::new(),
            profile: Profile::V3 {
                schema_id: "s".into(),
                data_json: "{}".into(),
                contact: Contact::default(),
            },
        };
        let shard = crate::store::shard_of("x", store.shard_count());
        let (user, event) = domain::create(new_user(), Timestamp(1_000));
        commit(
            &store,
            shard,
            vec![Change {
                before: None,
                event,
                after: user,
            }],
        );
        // An actor reads the user (and keeps its tail), then decides nothing.
        assert!(store.user_at_once("x").unwrap().unwrap().is_some());
        // A reset brings the user back at the same sequence, created at another time.
        let seeded = Imported::created(new_user(), Timestamp(2_000));
        block_on(store.reset(vec![seeded.clone()])).unwrap();
        let before = seeded.user;
        let event = domain::decide(Operation::Deactivate, &before, Timestamp(3_000)).unwrap();
        let after = domain::apply(&before, &event);
        commit(
            &store,
            shard,
            vec![Change {
                before: Some(before),
                event: event.clone(),
                after,
            }],
        );
        let mut expected = seeded.events;
        expected.push(event);
        assert_eq!(
            stored_histories(&store, Some("x")).get("x"),
            Some(&expected)
        );
        let report = store.check(10).unwrap();
        assert!(report.is_ok(), "{report}");
    }

    /// Wait for a listing (a scan finishes on another thread).
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(f)
    }
}
