//! The command line: every subcommand and flag of `lineout`, as clap derive types.

use crate::config::LogFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Configuration: defaults < TOML file (--config or LINEOUT_CONFIG) < LINEOUT_… environment
variables, with `__` between sections (LINEOUT_POLICY__REVIEW_SLA_HOURS=48). See
lineout.example.toml for every key and its default.

Exit codes: 0 success; 1 the command failed (rejected rows, broken audit chain, refused
command, database error); 2 bad configuration or arguments.";

/// lineout: cancel a subscriber's line end to end, from request to number aging.
#[derive(Debug, Parser)]
#[command(name = "lineout", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, value_name = "FILE", env = "LINEOUT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL (sqlite://path or postgres://…); overrides database.url.
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log format; overrides log.format.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve the API and run the timer and outbox worker.
    Serve(ServeArgs),
    /// Create or upgrade the database schema (idempotent).
    Migrate,
    /// Import accounts, lines or devices from a CSV or JSON file (idempotent).
    Import(ImportArgs),
    /// Effects waiting, done or dead-lettered (messages, network calls, refunds, webhooks).
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// What became of numbers whose line ended: aging, available again, ported out.
    #[command(subcommand)]
    Numbers(NumbersCommand),
    /// Regulatory reports (the FCC Reassigned Numbers Database).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Terminate many lines at once from a file; each becomes a normal case (channel bulk).
    #[command(subcommand)]
    Bulk(BulkCommand),
    /// Seed a demo database with realistic customers and cases, print a token, and serve.
    Demo(DemoArgs),
    /// List, show, open and advance cancellation cases.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Check the integrity of the recorded history.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The account holder's free lock against port-out, SIM change and cancellation.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage staff accounts of the console.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Check or show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Measure throughput, latency and memory on this machine (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
    /// Export everything about an account (a zip of JSON and CSV files).
    #[command(subcommand)]
    Export(crate::records::ExportCommand),
    /// Privacy requests (access, deletion) with their CCPA timers.
    #[command(subcommand)]
    Privacy(crate::records::PrivacyCommand),
    /// Set or clear an account's legal hold.
    #[command(subcommand)]
    LegalHold(crate::records::LegalHoldCommand),
    /// Apply the retention policy (erase closed accounts' personal data after the policy's days).
    #[command(subcommand)]
    Retention(crate::records::RetentionCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; overrides server.listen.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

/// What an import file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportKind {
    /// Columns: id,holder_name,email,alt_phone,language,billing_cycle_day,kind,lock_port_out,lock_sim_change,lock_cancellation,owed_cents,prepaid_balance_cents,currency
    Accounts,
    /// Columns: id,account_id,msisdn,iccid,imsi,eid,plan,status,monthly_charge_cents,sim_changed_at
    Lines,
    /// Columns: id,line_id,imei,model,price_cents,currency,ownership,must_return,remaining_installments_cents
    Devices,
    /// Historical entries. Columns: account_id,kind,amount_cents,currency,reference,description,at
    /// (kind: charge, payment, credit, refund, write_off, fee; the reference is unique per account)
    Ledger,
}

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects with the same field names as the CSV columns.
    Json,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What the file holds.
    pub kind: ImportKind,
    /// The file to import.
    pub file: PathBuf,
    /// File format (default: from the file's extension).
    #[arg(long)]
    pub format: Option<FileFormat>,
    /// Stop at the first rejected row (rows before it stay imported).
    #[arg(long)]
    pub stop_on_error: bool,
    /// Rows per transaction.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on; overrides server.listen.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Seed of the generated data (the same seed gives the same customers).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How many accounts to generate.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub accounts: u32,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// List cases, oldest first.
    List(CaseListArgs),
    /// Show a case with its timeline, timers and outbox.
    Show {
        /// The case id.
        id: String,
    },
    /// Send a command to a case as staff member "cli", e.g. --json '{"type":"approve"}'.
    Command {
        /// The case id.
        id: String,
        /// The command as JSON: {"type":"withdraw"}, {"type":"approve","note":null}, a photo ID check {"type":"verify_identity","method":"photo_id","document":{…}}, …
        #[arg(long, value_name = "JSON")]
        json: String,
    },
    /// Open a cancellation case for a line.
    Open(CaseOpenArgs),
}

/// `lineout account …`: the free account lock (fraud guards).
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Switch the lock on at once (port-out and transfer PINs, SIM change, cancellation).
    Lock {
        /// The account id.
        id: String,
    },
    /// Ask to lift the lock: the account PIN is read from standard input (one line) and
    /// checked against the line; the lift takes effect after the cooling period.
    Unlock {
        /// The account id.
        id: String,
        /// A line of the account, to check the PIN against.
        #[arg(long, value_name = "ID")]
        line: String,
    },
    /// Cancel a pending lift during its cooling period: the lock stays on.
    CancelUnlock {
        /// The account id.
        id: String,
    },
    /// Show the locks and any pending lift.
    Status {
        /// The account id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct CaseListArgs {
    /// Only cases in this status (verifying, preparing, in_review, approved, terminating, closing, closed, rejected, withdrawn, expired, frozen).
    #[arg(long)]
    pub status: Option<String>,
    /// Only cases opened through this channel (ivr, web, chat, store, api, bulk).
    #[arg(long)]
    pub channel: Option<String>,
    /// Only cases of this line id.
    #[arg(long, value_name = "ID")]
    pub line: Option<String>,
    /// At most this many cases.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["line", "msisdn"]))]
pub struct CaseOpenArgs {
    /// The line's id.
    #[arg(long, value_name = "ID")]
    pub line: Option<String>,
    /// The line's number, e.g. "(415) 555-0100" or +14155550100.
    #[arg(long, value_name = "NUMBER")]
    pub msisdn: Option<String>,
    /// How the customer asked (ivr, web, chat, store, api, bulk).
    #[arg(long)]
    pub channel: String,
    /// When service should end: immediate, end_of_cycle or a date (YYYY-MM-DD).
    #[arg(long, default_value = "immediate")]
    pub timing: String,
    /// A note recorded with the request.
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk every case's hash chain; exit 1 at the first broken event.
    Verify,
    /// Write a case's events with their hashes (JSON) for verification (docs/audit.md).
    Export {
        /// The case id.
        #[arg(long)]
        case: String,
        /// Where to write the JSON (standard output when omitted).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create a staff account. The password is read from LINEOUT_STAFF_PASSWORD, or else
    /// as one line from standard input (never from the command line).
    Create {
        /// Sign-in name: 3-32 of a-z, 0-9, '.', '_', '-'.
        #[arg(long)]
        username: String,
        /// The name shown in the console.
        #[arg(long)]
        name: String,
        /// agent, reviewer, warehouse or admin.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print its secret (shown once).
    Create {
        /// A scope the token grants, e.g. cases:read (repeat for several).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// A label to recognise the token by.
        #[arg(long, default_value = "cli")]
        label: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration; print every problem with its key.
    Check,
    /// Print the effective configuration as TOML (the database password masked).
    Show,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "lineout",
            "import",
            "accounts",
            "a.csv",
            "--stop-on-error",
            "--batch-size",
            "10",
            "--database",
            "sqlite://x.db",
        ]);
        assert!(matches!(
            cli,
            Ok(Cli { command: Command::Import(ImportArgs { batch_size: 10, stop_on_error: true, .. }), .. })
        ));
        assert!(Cli::try_parse_from(["lineout", "import", "accounts", "a.csv", "--batch-size", "10001"]).is_err());
        assert!(Cli::try_parse_from(["lineout", "case", "open", "--channel", "store"]).is_err());
    }
}

#[derive(Debug, Subcommand)]
pub enum BulkCommand {
    /// Open a cancellation case for every number in a CSV file (columns msisdn,reason[,effective_date]).
    ///
    /// Each case is verified by policy as operator-initiated, notified, deprovisioned and
    /// recorded like any other. Re-running the same file resumes: numbers that already have
    /// an open case, or whose line has ended, are skipped. Memory stays bounded.
    Terminate(BulkTerminateArgs),
}

#[derive(Debug, Args)]
pub struct BulkTerminateArgs {
    /// CSV file with a header: msisdn,reason,effective_date (YYYY-MM-DD; empty = immediate).
    pub file: PathBuf,
    /// Cases opened concurrently (group commit batches them), 1-16384.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub concurrency: u32,
    /// Stop at the first rejected row (rows before it stay done).
    #[arg(long)]
    pub stop_on_error: bool,
}

#[derive(Debug, Subcommand)]
pub enum NumbersCommand {
    /// List numbers by state, in number order.
    List {
        /// aging, available or ported_out (all when omitted).
        #[arg(long)]
        state: Option<String>,
        /// Most numbers to show.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The FCC Reassigned Numbers Database report of permanent disconnections for a month.
    ///
    /// Covers the 11th of the previous month through the 10th of MONTH (due by the 15th).
    /// Writes the CSV (company_id,telephone_number,disconnect_date), or says explicitly that
    /// there were none. Ported-out numbers are not disconnections.
    Rnd {
        /// The report month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// The provider's RND company id (3-10 letters or digits).
        #[arg(long)]
        company_id: String,
        /// Write the CSV to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List outbox rows: delivered ones by default, or --dead / --pending.
    List {
        /// Dead letters: effects that failed for good and need a person.
        #[arg(long, conflicts_with = "pending")]
        dead: bool,
        /// Effects still waiting (or retrying).
        #[arg(long)]
        pending: bool,
        /// Most rows to show.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Put a dead-lettered effect back in the queue (after fixing its cause).
    Retry {
        /// The outbox row id (from `lineout outbox list --dead`).
        id: String,
    },
}
