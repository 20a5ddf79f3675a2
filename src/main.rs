//! The `rafthub` binary: parses the command line and runs the chosen command.

use clap::Parser;
use rafthub::cli::{Cli, Command, ConfigCommand, UpArgs};
use rafthub::{cluster_cmd, local_cluster, server};

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAFTHUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=error,sled=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Up(UpArgs {
        data_dir: "data".into(),
        nodes: 3,
    })) {
        Command::Up(a) => local_cluster::run(a).await,
        Command::Serve(a) => {
            let cfg = a.resolve()?;
            let listeners = server::Listeners::bind(&cfg).await?;
            server::run(cfg, listeners, local_cluster::wait_for_signal()).await
        }
        Command::Cluster(c) => cluster_cmd::run(c).await,
        Command::Config(ConfigCommand::Check(a)) => {
            let cfg = a.resolve()?;
            print!("{}", toml::to_string_pretty(&cfg)?);
            Ok(())
        }
    }
}

fn main() {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
