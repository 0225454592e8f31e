//! Test support shared by the workspace's integration tests: the storage contract and the
//! HTTP contract (written once, expanded per adapter by their macros), an in-process HTTP
//! client, and scratch databases. A library of its own, so every helper is public API and no
//! test binary carries code it does not use.

pub mod completeness;
pub mod fake_model;
pub mod fake_twilio;
pub mod http_api;
pub mod loopback;
pub mod postgres;
pub mod raw_h2;
pub mod relay;
pub mod server;
pub mod sqlite;
pub mod sse;
pub mod storage_contract;

/// The skip test of a contract suite that always runs (memory, SQLite).
pub fn never_skip() -> bool {
    false
}

#[cfg(test)]
mod tests {
    /// The case functions a source file defines: `pub async fn <name>(<parameter>`, the
    /// parameter on the same line or (as rustfmt breaks long signatures) the next.
    fn cases(source: &str, parameter: &str) -> Vec<String> {
        source
            .split("pub async fn ")
            .skip(1)
            .filter_map(|rest| rest.split_once('('))
            .filter(|(_, after)| after.trim_start().starts_with(parameter))
            .map(|(name, _)| name.trim().to_string())
            .collect()
    }

    /// The names listed in a contract macro (the `@cases` list of its module file).
    fn listed(macro_source: &str) -> Vec<String> {
        let start = macro_source.find("(@cases $factory;").expect("a case list");
        let list = &macro_source[start..];
        let end = list.find(");").expect("the end of the case list");
        list[..end]
            .lines()
            .skip(1)
            .map(|line| line.trim().trim_end_matches(',').to_string())
            .filter(|name| !name.is_empty())
            .collect()
    }

    fn assert_all_listed(macro_file: &str, case_files: &[&str], parameter: &str) {
        let listed = listed(macro_file);
        let mut defined = Vec::new();
        for file in case_files {
            defined.extend(cases(file, parameter));
        }
        assert!(!defined.is_empty());
        let missing: Vec<&String> = defined.iter().filter(|d| !listed.contains(d)).collect();
        assert!(
            missing.is_empty(),
            "cases defined but run on no adapter: {missing:?}"
        );
        let unknown: Vec<&String> = listed.iter().filter(|l| !defined.contains(l)).collect();
        assert!(unknown.is_empty(), "listed but not defined: {unknown:?}");
    }

    #[test]
    fn every_storage_contract_case_is_run_on_every_adapter() {
        let module = include_str!("storage_contract/mod.rs");
        let races = include_str!("storage_contract/races.rs");
        let live = include_str!("storage_contract/live.rs");
        let reports = include_str!("storage_contract/reports.rs");
        let channels = include_str!("storage_contract/channels.rs");
        let summaries = include_str!("storage_contract/summaries.rs");
        let sweeps = include_str!("storage_contract/sweeps.rs");
        assert_all_listed(
            module,
            &[module, races, live, reports, channels, summaries, sweeps],
            "storage: Storage",
        );
    }

    #[test]
    fn every_http_contract_case_is_run_on_every_adapter() {
        assert_all_listed(
            include_str!("http_api/mod.rs"),
            &[
                include_str!("http_api/cases_account.rs"),
                include_str!("http_api/cases_admin.rs"),
                include_str!("http_api/cases_assistant.rs"),
                include_str!("http_api/cases_assistant_tools.rs"),
                include_str!("http_api/cases_hardening.rs"),
                include_str!("http_api/cases_identity.rs"),
                include_str!("http_api/cases_limits.rs"),
                include_str!("http_api/cases_messages.rs"),
                include_str!("http_api/cases_reports.rs"),
                include_str!("http_api/cases_stream.rs"),
                include_str!("http_api/cases_twilio.rs"),
            ],
            "server: TestServer",
        );
    }
}
