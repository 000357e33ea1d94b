//! `keystone-rs completions SHELL`: the completion script on stdout, how to install it on stderr.
use clap_complete::Shell;

/// Prints the script for `shell`, then (on stderr, so a redirect keeps only the script) where
/// to put it.
pub fn run(shell: Shell, command: &mut clap::Command) {
    let mut script = Vec::new();
    clap_complete::generate(shell, command, "keystone-rs", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == Shell::Bash {
        script = fix_bash_names(&script);
    }
    let _ = super::write_out(&script);
    eprintln!("{}", install_hint(shell));
}

/// clap_complete's bash script tracks the subcommand typed so far in `cmd`, built from
/// `keystone__rs` (the binary name with `-` as `__`), but names the `case` arms after the
/// same name with `-` replaced by `__subcmd__` (`keystone__subcmd__rs__subcmd__serve`), so
/// nothing past the first word ever completed. The arms are renamed to what `cmd` holds.
fn fix_bash_names(script: &str) -> String {
    script.replace("keystone__subcmd__rs", "keystone__rs")
}

/// Where each shell looks for completion scripts.
pub fn install_hint(shell: Shell) -> String {
    let how = match shell {
        Shell::Bash => "keystone-rs completions bash > ~/.local/share/bash-completion/completions/keystone-rs",
        Shell::Zsh => {
            "keystone-rs completions zsh > ~/.zfunc/_keystone-rs   (and `fpath+=~/.zfunc` before `compinit` in ~/.zshrc)"
        }
        Shell::Fish => "keystone-rs completions fish > ~/.config/fish/completions/keystone-rs.fish",
        Shell::Elvish => {
            "keystone-rs completions elvish > ~/.config/elvish/lib/keystone-rs.elv   (and `use keystone-rs` in rc.elv)"
        }
        Shell::PowerShell => "keystone-rs completions powershell >> $PROFILE",
        _ => "save the script where your shell loads completions from",
    };
    format!("# to install: {how}\n# then open a new shell")
}
