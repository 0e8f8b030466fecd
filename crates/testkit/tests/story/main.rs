//! The backend conformance story: one set of assertions about the durable ports, told on
//! every backend of `wxlogin-store-sql`. SQLite always; PostgreSQL and MySQL (or MariaDB)
//! when `WXLOGIN_TEST_POSTGRES_URL` / `WXLOGIN_TEST_MYSQL_URL` name a server, and otherwise
//! a visible NOTICE says they were not tested. The login flow's part of it (users,
//! registration, sessions, tokens, what they write beside) is also told on
//! `wxlogin_testkit::fakes::MemoryStore`, the fake that core's use-case tests run on: the
//! fake keeps the SQL store's word, or these tests say where it does not.
//!
//! Each story is a `pub async fn sentence(db: &TestDb)` (or `db: &impl Db`, for the stories
//! the fake tells too) in the module of its port; [`stories!`] turns each into one test per
//! backend, `<backend>::<port>::<sentence>`. Each test gets a database of its own (a temp
//! file, a schema, a database), dropped afterwards.

// Test code: a panic is how a story fails.
#![allow(clippy::unwrap_used)]

mod accounts;
mod admin;
mod admin_keys;
mod changes;
mod console;
mod events;
mod import;
mod keys;
mod lifecycle;
mod refresh_store;
mod register;
mod sessions;
mod users;

use wxlogin_core::admin::AdminStore;
use wxlogin_core::events::EventStore;
use wxlogin_core::ports::{RefreshStore, SessionStore, UserStore};
use wxlogin_store_sql::SqlStore;
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fakes::MemoryStore;

/// Where a story runs: a database of one backend, or the in-memory fake.
pub trait Db: Sync {
    /// The store it opens.
    type Store: UserStore + SessionStore + RefreshStore + AdminStore + EventStore + 'static;
    /// A store on this database (migrated); several opened stores share the data, as
    /// instances sharing one database do.
    fn open(&self, max_connections: u32) -> impl Future<Output = Self::Store> + Send;
}

impl Db for TestDb {
    type Store = SqlStore;
    fn open(&self, max_connections: u32) -> impl Future<Output = SqlStore> + Send {
        TestDb::open(self, max_connections)
    }
}

/// The in-memory fake as a "database": every store opened on it is a handle on one state.
#[derive(Default)]
pub struct Memory(MemoryStore);

impl Db for Memory {
    type Store = MemoryStore;
    async fn open(&self, _max_connections: u32) -> MemoryStore {
        self.0.clone()
    }
}

/// `stories! { sql { port { story, ... } ... } everywhere { port { story, ... } ... } }`: for
/// each backend, a module with one test per story; the `everywhere` ports also on the fake.
macro_rules! stories {
    (
        sql { $($port:ident { $($story:ident),* $(,)? })* }
        everywhere { $($both:ident { $($told:ident),* $(,)? })* }
    ) => {
        stories!(@backend sqlite, Sqlite; $($port { $($story),* })* $($both { $($told),* })*);
        stories!(@backend postgres, Postgres; $($port { $($story),* })* $($both { $($told),* })*);
        stories!(@backend mysql, Mysql; $($port { $($story),* })* $($both { $($told),* })*);
        mod memory {
            $(mod $both {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $told() {
                        crate::$both::$told(&crate::Memory::default()).await;
                    }
                )*
            })*
        }
    };
    (@backend $backend:ident, $kind:ident; $($port:ident { $($story:ident),* })*) => {
        mod $backend {
            $(mod $port {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $story() {
                        let backend = wxlogin_testkit::Backend::$kind;
                        // `None` (after a NOTICE) when the backend's server is not configured.
                        if let Some(db) = wxlogin_testkit::TestDb::new(backend).await {
                            crate::$port::$story(&db).await;
                        }
                    }
                )*
            })*
        }
    };
}

stories! {
    sql {
        console {
            activity_counts_registrations_and_sign_ins_per_period_with_exact_edges,
            events_come_newest_first_and_page_back_before_an_id,
        }
        keys {
            a_new_database_has_no_signing_keys,
            a_taken_generation_is_refused_and_keys_come_back_oldest_first,
            a_taken_kid_with_a_free_generation_is_an_error_not_a_lost_race,
            two_instances_inserting_the_first_key_at_once_elect_exactly_one,
        }
        admin {
            a_search_ands_its_filters_and_matches_nicknames_literally,
            paging_users_newest_first_while_others_register_neither_skips_nor_repeats,
            a_users_detail_shows_their_identities_and_live_sessions,
            stats_count_users_recent_registrations_sign_ins_and_disabled_users,
            a_lookup_user_is_created_with_its_identity_or_names_who_holds_the_phone_or_id,
        }
        changes {
            updating_a_user_writes_what_changed_and_only_then_an_event,
            an_external_id_of_another_user_changes_nothing,
            disabling_revokes_every_family_and_deletes_the_sessions_of_the_users_identities,
            an_unknown_user_is_found_and_changed_by_no_admin_operation,
            deleting_a_user_erases_their_traces_and_frees_their_phone,
            signing_a_user_out_everywhere_revokes_every_family_and_says_so,
            unbinding_an_app_removes_its_identities_and_revokes_its_families_only,
        }
        admin_keys {
            an_admin_key_works_until_revoked_and_live_keys_have_unique_names,
        }
        import {
            importing_creates_users_with_their_identities_and_events_in_order,
            importing_again_finds_everyone_existing_and_writes_nothing,
            a_user_with_an_identity_of_someone_else_is_refused_whole,
        }
        events {
            events_come_oldest_first_and_page_after_an_id_with_filters_anded,
            paging_events_while_others_write_neither_skips_nor_repeats,
            a_new_endpoint_gets_no_history_and_each_subscribed_event_once,
            instances_fanning_out_at_once_create_each_delivery_once,
            a_claimed_delivery_is_hidden_for_its_lease_and_comes_back_if_unfinished,
            concurrent_claims_never_claim_one_delivery_twice,
            finishing_records_attempts_and_outcomes_and_dead_letters_can_be_redelivered,
            purging_events_deletes_them_with_their_deliveries,
        }
        lifecycle {
            migrating_twice_is_a_no_op_that_keeps_the_data,
            several_instances_connecting_and_migrating_a_new_database_at_once_all_succeed,
            purging_deletes_what_expired_and_families_left_without_tokens,
            a_closed_store_is_unavailable,
        }
    }
    everywhere {
        users {
            a_registered_user_is_found_by_identity_phone_and_id,
            unknown_identity_phone_id_and_unionid_find_nobody,
            a_unionid_finds_its_user_from_any_app,
            binding_an_identity_moves_it_from_its_previous_user,
            binding_is_idempotent_and_keeps_a_known_unionid,
            a_unionid_learned_later_is_recorded,
            binding_to_a_user_that_does_not_exist_is_an_error,
            a_ticket_is_live_until_the_second_it_expires,
            openids_differing_only_in_case_are_different_identities,
            text_and_bytes_come_back_exactly_as_stored,
            looking_up_an_identity_says_whether_its_unionid_is_recorded,
            the_signed_in_user_comes_with_their_identities_as_user_and_identities_read_them,
            a_revoked_family_signs_in_nobody,
            an_unknown_family_or_another_users_signs_in_nobody,
        }
        register {
            registering_consumes_the_ticket_and_binds_the_identity,
            a_used_ticket_registers_nobody_else,
            an_expired_or_unknown_ticket_changes_nothing,
            a_ticket_only_registers_the_identity_it_was_issued_to,
            a_taken_phone_leaves_the_ticket_unused_and_no_half_created_user,
            of_concurrent_registrations_with_one_ticket_exactly_one_creates_a_user,
        }
        sessions {
            a_session_is_live_until_the_second_it_expires,
            an_identity_without_a_session_key_has_no_history,
            rotating_the_session_key_keeps_exactly_one_previous_key,
            session_keys_are_kept_per_app_and_openid,
            opening_a_session_rotates_the_key_and_stores_the_session_together,
            a_session_that_cannot_be_stored_leaves_the_session_key_unrotated,
            a_login_of_a_known_user_stores_key_session_and_family_in_one_go,
            a_login_recorded_without_its_session_rotates_the_key_and_signs_in,
        }
        refresh_store {
            a_new_family_is_active_and_an_unknown_one_is_not,
            a_family_whose_first_token_cannot_be_stored_is_not_created,
            rotating_a_live_token_returns_its_family_and_the_new_token_rotates_next,
            presenting_a_used_token_revokes_its_family_and_the_newest_token_dies_with_it,
            a_token_is_rotatable_until_the_second_it_expires,
            a_used_token_presented_after_its_expiry_still_counts_as_reuse,
            an_unknown_token_is_invalid,
            a_live_token_of_a_revoked_family_is_invalid_and_revoking_is_idempotent,
            revoking_a_user_revokes_all_their_families_and_nobody_elses,
            of_fifty_concurrent_rotations_of_one_token_exactly_one_succeeds,
        }
        accounts {
            registering_writes_user_registered_then_identity_bound_with_the_identity,
            a_registration_that_changes_nothing_writes_no_event_and_leaves_no_gap,
            binding_writes_identity_bound_only_when_the_binding_is_new_or_moved,
            a_sign_in_sets_last_login_at_and_is_announced_only_when_asked,
            a_reused_refresh_token_writes_refresh_token_reused_once,
            a_disabled_users_known_tokens_are_refused_as_user_disabled_and_nothing_changes,
            of_concurrent_lookups_creating_one_phone_exactly_one_creates_a_user,
        }
    }
}
