//! `{{name}}` templating for action arguments, URLs, bodies and shell scripts.
//!
//! # Trust
//!
//! Every value carries its [`Trust`](super::vars::Trust). *Trusted* values
//! are the operator's: the target's name and `vars` from the config, playbook
//! and step names, and what the engine itself makes (the incident id, the
//! severity). *Untrusted* values arrive from outside: the signature (an
//! alert's name, an intake report's `error`, a probe's reading of a peer's
//! answer), and anything else a peer sends. A peer's value is data, never a
//! decision, so where it may go depends on the [`Place`]:
//!
//! - a command argument, a shell word or a URL: only a plain token (letters,
//!   digits and `._:@=+-`, not starting with `-`, without `..`, not empty and
//!   not `.`), so it cannot become an option (`-rf`), a path (`../..`), or
//!   another URL;
//! - an HTTP header: no control characters, so CR/LF cannot start a header;
//! - an environment variable: no NUL, which no environment can hold;
//! - a request body: no quotes, backslashes, `<>&` or control characters, so
//!   it cannot close a JSON string, add a form field or open markup.
//!
//! A value that does not fit is a [`TemplateError::Untrusted`]: the action is
//! refused before anything runs, and the engine hands the incident to a human
//! with the reason (a refusal is not a failed fix: learning does not count it).
//! Trusted values go anywhere; [`render_shell`] still quotes them, as it quotes
//! every value.
//!
//! There is no escape for a literal `{{`; a template that needs one is an error.

use super::vars::{Place, Vars, admit};

/// Why a template could not be filled in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// The template itself is wrong: a syntax error, an unknown name, a shell
    /// placeholder where quoting would not hold. The operator's to fix.
    #[error("template error: {0}")]
    Invalid(String),
    /// An untrusted value does not fit where the template places it.
    #[error("{name} {value:?} {why}")]
    Untrusted {
        name: String,
        /// The start of the value, enough to recognise it.
        value: String,
        why: String,
    },
}

/// A template split into literal text and the variables between `{{ }}`.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits `template`. On a syntax error, also returns the pieces before it.
fn parse(template: &str) -> (Vec<Piece<'_>>, Result<(), String>) {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return (
                pieces,
                Err(format!("unclosed `{{{{` at `{}`", near(&rest[open..]))),
            );
        };
        let name = after[..close].trim();
        if name.is_empty() {
            return (
                pieces,
                Err(format!("empty `{{{{}}}}` at `{}`", near(&rest[open..]))),
            );
        }
        // Strict names catch typos such as `{{ a }` followed by a later `}}`.
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return (
                pieces,
                Err(format!("invalid template variable name `{name}`")),
            );
        }
        pieces.push(Piece::Var(name));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    (pieces, Ok(()))
}

/// The start of `text`, enough to find an error in a long script.
fn near(text: &str) -> &str {
    &text[..text.floor_char_boundary(40)]
}

/// The pieces of a well-formed template.
fn pieces(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let (pieces, syntax) = parse(template);
    syntax.map(|()| pieces).map_err(TemplateError::Invalid)
}

/// Replaces every `{{name}}` (or `{{ name }}`) with its value from `vars`,
/// verbatim, once each untrusted value is admitted at `place`.
/// An unknown name or an unclosed `{{` is an error naming the problem.
pub fn render(template: &str, vars: &Vars, place: Place) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Var(name) => {
                let (value, trust) = vars.get(name)?;
                admit(name, value, trust, place)?;
                out.push_str(value);
            }
        }
    }
    Ok(out)
}

/// Like [`render`] at [`Place::Word`], for a script run by `sh -c`: each value
/// becomes exactly one single-quoted word (`'` is written `'\''`), so
/// `$(rm -rf /)` stays text.
///
/// Single quotes only protect a value where the shell parses them as quotes, so
/// a placeholder is refused inside `'...'`, `"..."`, `${...}`, backticks or
/// arithmetic, right after `\` or `$`, and anywhere after a `<<` (heredoc bodies
/// ignore quotes) or a `$'...'` holding a backslash (dash and bash disagree on
/// where it ends). Write `echo "restarting" {{service}}`, not
/// `echo "restarting {{service}}"`. What the script then does with the word is
/// its own business: `eval {{x}}` or `sh -c {{x}}` still run it, which is one
/// more reason an untrusted value must be a plain token here too.
pub fn render_shell(script: &str, vars: &Vars) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(script.len());
    let mut lexer = ShellLexer::new();
    for piece in pieces(script)? {
        match piece {
            Piece::Text(text) => {
                lexer.feed(text);
                out.push_str(text);
            }
            Piece::Var(name) => {
                if let Some(why) = lexer.unsafe_here() {
                    return Err(TemplateError::Invalid(format!(
                        "template variable `{name}` is {why} in a shell script; \
                         put it where a bare word goes, it is quoted automatically"
                    )));
                }
                let (value, trust) = vars.get(name)?;
                admit(name, value, trust, Place::Word)?;
                out.push_str(&shell_quote(value));
                lexer.after_word();
            }
        }
    }
    Ok(out)
}

/// The variable names `template` uses, in order of first use, without repeats.
/// Names after a syntax error are not reported; [`check`] reports the error.
pub fn names(template: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for piece in parse(template).0 {
        if let Piece::Var(name) = piece
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// Load-time validation without values: syntax, and with `shell` the placement
/// rules of [`render_shell`]. Unknown names are the caller's to judge via [`names`].
pub fn check(template: &str, shell: bool) -> Result<(), String> {
    let mut vars = Vars::default();
    for name in names(template) {
        vars.trusted(name, "");
    }
    let rendered = if shell {
        render_shell(template, &vars)
    } else {
        render(template, &vars, Place::Data)
    };
    rendered.map(drop).map_err(|e| match e {
        TemplateError::Invalid(why) => why,
        // Not reachable: every value here is trusted.
        untrusted @ TemplateError::Untrusted { .. } => untrusted.to_string(),
    })
}

/// One POSIX sh word that means exactly `value`.
pub(crate) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// An open quoting or expansion context in a shell script.
#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// `'...'`
    Single,
    /// `$'...'`: unlike in `'...'`, a backslash escapes a quote here.
    AnsiC,
    /// `"..."`
    Double,
    /// `` `...` ``
    Backtick,
    /// `${...}`
    Brace,
    /// `$(...)`, counting the plain `(` open inside it. The only context
    /// besides the top level where quotes work as usual.
    Subst(u32),
    /// `$((...))` or `((...))`, counting `(`. Expanded as if double-quoted,
    /// so single quotes do not protect a value here.
    Arith(u32),
    /// `$[...]`, bash's old arithmetic, counting `[`.
    Bracket(u32),
}

/// A deliberately small model of sh quoting, only good enough to tell whether
/// the next character is a bare-word position. Where it can be wrong, it errs
/// towards "quoted": a refusal to render, never an injection.
#[derive(Default)]
struct ShellLexer {
    stack: Vec<Frame>,
    /// Set once the rest of the script cannot be modelled safely.
    give_up: Option<&'static str>,
    in_comment: bool,
    // What the previous character was, where that matters:
    /// an unconsumed `\`
    escaped: bool,
    /// an unescaped `$`
    dollar: bool,
    /// an unquoted `<`
    less: bool,
    /// an unquoted `(`, so a second one opens arithmetic
    open_paren: bool,
    /// the first `)` of the `))` closing arithmetic
    close_paren: bool,
    /// a word boundary, so `#` would begin a comment
    word_start: bool,
}

impl ShellLexer {
    fn new() -> Self {
        ShellLexer {
            word_start: true,
            ..ShellLexer::default()
        }
    }

    /// Why a value may not be substituted at this point, if it may not.
    fn unsafe_here(&self) -> Option<&'static str> {
        if self.give_up.is_some() {
            self.give_up
        } else if self.escaped {
            Some("right after a backslash")
        } else if self.dollar {
            Some("right after `$`")
        } else if self.in_comment {
            // A comment ignores quotes: a newline in the value would end the
            // comment and run the rest of the value as commands.
            Some("inside a comment")
        } else if !matches!(self.stack.last(), None | Some(Frame::Subst(_)))
            // `$(...)` starts quoting afresh, even inside "...". Not so inside
            // backticks (a backtick in the value ends them) or arithmetic
            // (bash expands `a[...]` in the result again).
            || !self.stack.iter().all(|f| matches!(f, Frame::Subst(_) | Frame::Double))
        {
            Some("inside quotes, backticks, `${}` or arithmetic")
        } else {
            None
        }
    }

    fn feed(&mut self, text: &str) {
        for c in text.chars() {
            self.step(c);
        }
    }

    /// A substituted value was written: one complete, closed word.
    fn after_word(&mut self) {
        self.word_start = false;
        self.less = false;
        self.open_paren = false;
        self.close_paren = false;
    }

    fn step(&mut self, c: char) {
        use std::mem::take;
        let (dollar, less, open_paren) = (
            take(&mut self.dollar),
            take(&mut self.less),
            take(&mut self.open_paren),
        );
        let (close_paren, word_start) = (take(&mut self.close_paren), take(&mut self.word_start));
        if take(&mut self.escaped) || (close_paren && c == ')') {
            return;
        }
        if self.in_comment {
            self.in_comment = c != '\n';
            self.word_start = !self.in_comment;
            return;
        }
        match self.stack.last().copied() {
            Some(Frame::Single) => self.pop_if(c == '\''),
            Some(Frame::AnsiC) if c == '\\' => {
                // bash reads `\'` as an escaped quote, dash as the end.
                self.give_up = Some("after a `$'...'` string holding a backslash");
                self.escaped = true;
            }
            Some(Frame::Backtick) if c == '\\' => self.escaped = true,
            Some(Frame::AnsiC) => self.pop_if(c == '\''),
            Some(Frame::Backtick) => self.pop_if(c == '`'),
            Some(Frame::Double) if c == '"' => self.pop_if(true),
            Some(Frame::Double) => self.expansion(c, dollar),
            Some(Frame::Arith(depth)) => match c {
                '(' => self.replace_top(Frame::Arith(depth + 1)),
                ')' if depth == 0 => {
                    self.stack.pop();
                    self.close_paren = true;
                }
                ')' => self.replace_top(Frame::Arith(depth - 1)),
                _ => self.expansion(c, dollar),
            },
            Some(Frame::Bracket(depth)) => match c {
                '[' => self.replace_top(Frame::Bracket(depth + 1)),
                ']' if depth == 0 => self.pop_if(true),
                ']' => self.replace_top(Frame::Bracket(depth - 1)),
                _ => self.expansion(c, dollar),
            },
            Some(Frame::Brace) if c == '}' => self.pop_if(true),
            Some(Frame::Brace) => self.unquoted(c, dollar, less, open_paren, false),
            Some(Frame::Subst(_)) | None => self.unquoted(c, dollar, less, open_paren, word_start),
        }
    }

    fn pop_if(&mut self, close: bool) {
        if close {
            self.stack.pop();
        }
    }

    fn replace_top(&mut self, frame: Frame) {
        if let Some(top) = self.stack.last_mut() {
            *top = frame;
        }
    }

    /// What still happens inside double quotes and arithmetic.
    fn expansion(&mut self, c: char, dollar: bool) {
        match c {
            '\\' => self.escaped = true,
            '`' => self.stack.push(Frame::Backtick),
            '$' => self.dollar = true,
            '(' if dollar => {
                self.stack.push(Frame::Subst(0));
                self.open_paren = true;
            }
            '{' if dollar => self.stack.push(Frame::Brace),
            '[' if dollar => self.stack.push(Frame::Bracket(0)),
            _ => {}
        }
    }

    /// A character outside quotes: at the top level, in `$(...)` or `${...}`.
    fn unquoted(&mut self, c: char, dollar: bool, less: bool, open_paren: bool, word_start: bool) {
        let top = self.stack.last().copied();
        match c {
            '\'' if dollar => self.stack.push(Frame::AnsiC),
            '\'' => self.stack.push(Frame::Single),
            '"' => self.stack.push(Frame::Double),
            // `$((` or `((`: the `(` just seen opened arithmetic, not a group.
            '(' if open_paren => match top {
                // Depth 0: that `(` was the one of `$(`, so this is `$((`.
                Some(Frame::Subst(0)) => self.replace_top(Frame::Arith(0)),
                // Otherwise that `(` was counted as a group; uncount it.
                Some(Frame::Subst(depth)) => {
                    self.replace_top(Frame::Subst(depth - 1));
                    self.stack.push(Frame::Arith(0));
                }
                _ => self.stack.push(Frame::Arith(0)),
            },
            '(' if !dollar => {
                if let Some(Frame::Subst(depth)) = top {
                    self.replace_top(Frame::Subst(depth + 1));
                }
                self.open_paren = true;
            }
            ')' => match top {
                Some(Frame::Subst(0)) => self.pop_if(true),
                Some(Frame::Subst(depth)) => self.replace_top(Frame::Subst(depth - 1)),
                _ => {}
            },
            '<' if less => self.give_up = Some("after a `<<` heredoc"),
            '<' => self.less = true,
            '#' if word_start => self.in_comment = true,
            _ => self.expansion(c, dollar),
        }
        self.word_start = c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')' | '<' | '>');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        let mut vars = Vars::default();
        for (name, value) in pairs {
            vars.trusted(*name, *value);
        }
        vars
    }

    fn invalid(why: &str) -> Result<String, TemplateError> {
        Err(TemplateError::Invalid(why.into()))
    }

    #[test]
    fn replaces_names_with_or_without_spaces() {
        let v = vars(&[("host", "db-1"), ("port", "5432")]);
        assert_eq!(
            render("{{host}}:{{ port }}/{{  host  }}", &v, Place::Word),
            Ok("db-1:5432/db-1".into())
        );
    }

    #[test]
    fn text_without_braces_passes_through() {
        let text = "curl -s http://x/a}}b {c} $HOME 'q'";
        assert_eq!(render(text, &Vars::default(), Place::Word), Ok(text.into()));
    }

    #[test]
    fn unknown_name_is_named() {
        let err = render("restart {{foo}}", &vars(&[("bar", "1")]), Place::Data);
        assert_eq!(err, invalid("unknown template variable `foo`"));
    }

    #[test]
    fn unclosed_and_empty_and_odd_names_are_errors() {
        let v = vars(&[("a", "1")]);
        assert_eq!(
            render("x {{a", &v, Place::Data),
            invalid("unclosed `{{` at `{{a`")
        );
        let err = |t| render(t, &v, Place::Data).unwrap_err().to_string();
        assert!(err("x {{ }}").contains("empty"));
        assert!(err("{{ a } {{a}}").contains("invalid"));
    }

    #[test]
    fn values_are_inserted_verbatim_by_render() {
        let v = vars(&[("x", "$(rm -rf /) {{y}}")]);
        assert_eq!(
            render("a {{x}}", &v, Place::Word),
            Ok("a $(rm -rf /) {{y}}".into())
        );
    }

    #[test]
    fn shell_values_become_one_single_quoted_word() {
        let v = vars(&[("x", "a'b; echo x"), ("y", "$(rm -rf /)")]);
        assert_eq!(
            render_shell("echo {{x}} --n={{y}}", &v),
            Ok(r"echo 'a'\''b; echo x' --n='$(rm -rf /)'".into())
        );
    }

    #[test]
    fn shell_placeholders_are_refused_where_quoting_would_not_hold() {
        let v = vars(&[("x", "v")]);
        for script in [
            "echo '{{x}}'",
            "echo \"restarting {{x}}\"",
            "echo \"$(echo \"{{x}}\")\"",
            "echo \\{{x}}",
            "echo ${{x}}",
            "echo ${A:-{{x}}}",
            "echo `echo {{x}}`",
            "echo $'\\'{{x}}'",
            "echo $'it\\'s' {{x}} 'end'",
            "cat <<EOF\n{{x}}\nEOF",
            "true # {{x}}",
            "echo $(( {{x}} + 1 ))",
            "(( {{x}} ))",
            "echo $[ {{x}} ]",
            "echo $(echo $(( {{x}} )))",
            "echo $(( $(echo {{x}}) ))",
            "echo `echo $(echo {{x}})`",
        ] {
            let err = render_shell(script, &v).expect_err(script).to_string();
            assert!(err.contains("`x`"), "{script}: {err}");
        }
    }

    #[test]
    fn shell_placeholders_are_allowed_in_bare_word_positions() {
        let v = vars(&[("x", "v")]);
        for (script, want) in [
            ("echo \"a\" {{x}} 'b'", "echo \"a\" 'v' 'b'"),
            ("echo $(basename {{x}})", "echo $(basename 'v')"),
            ("echo \"$(date)\" {{x}}", "echo \"$(date)\" 'v'"),
            ("# it's a comment\necho {{x}}", "# it's a comment\necho 'v'"),
            ("echo a#b'c' {{x}}", "echo a#b'c' 'v'"),
            ("echo $'plain' {{x}}", "echo $'plain' 'v'"),
            ("x=$((1 + 2)); echo {{x}}", "x=$((1 + 2)); echo 'v'"),
            (
                "echo $(( (1 + 2) * 3 )) {{x}}",
                "echo $(( (1 + 2) * 3 )) 'v'",
            ),
            ("(( 1 )) && echo {{x}}", "(( 1 )) && echo 'v'"),
            ("echo $[1] {{x}}", "echo $[1] 'v'"),
            ("echo $( (cd / && ls) ) {{x}}", "echo $( (cd / && ls) ) 'v'"),
            ("echo \"$(echo {{x}})\"", "echo \"$(echo 'v')\""),
            ("echo $(echo $((1))) {{x}}", "echo $(echo $((1))) 'v'"),
        ] {
            assert_eq!(render_shell(script, &v), Ok(want.into()), "{script}");
        }
    }

    #[test]
    fn names_lists_each_variable_once_in_order() {
        assert_eq!(
            names("{{b}}/{{ a }}/{{b}} and {{c"),
            vec!["b".to_string(), "a".to_string()]
        );
        assert!(names("no variables").is_empty());
    }

    #[test]
    fn check_validates_without_values() {
        assert_eq!(check("{{a}} {{b}}", false), Ok(()));
        assert!(check("{{a", false).is_err());
        assert_eq!(check("systemctl restart {{svc}}", true), Ok(()));
        assert!(check("echo \"{{svc}}\"", true).is_err());
        assert_eq!(check("echo \"{{svc}}\"", false), Ok(()));
    }

    fn peer(value: &str) -> Vars {
        let mut vars = Vars::default();
        vars.untrusted("signature", value);
        vars
    }

    #[test]
    fn an_untrusted_value_is_a_plain_token_wherever_it_is_parsed() {
        let err = render(
            "touch /tmp/flags/{{signature}}",
            &peer("../../escape"),
            Place::Word,
        )
        .unwrap_err();
        assert!(
            matches!(&err, TemplateError::Untrusted { name, value, .. }
                if name == "signature" && value == "../../escape"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("signature \"../../escape\" is not a plain token: it contains '/'"),
            "{err}"
        );
        assert!(render_shell("rm {{signature}}", &peer("-rf")).is_err());
        assert_eq!(
            render_shell("touch {{signature}}", &peer("DB_TIMEOUT")),
            Ok("touch 'DB_TIMEOUT'".into())
        );
    }

    #[test]
    fn trusted_values_may_be_paths_and_options() {
        let v = vars(&[("dir", "/var/lib/app/../flags"), ("opt", "-rf")]);
        assert_eq!(
            render("{{opt}} {{dir}}", &v, Place::Word),
            Ok("-rf /var/lib/app/../flags".into())
        );
    }

    #[test]
    fn headers_env_and_bodies_take_untrusted_values_as_data() {
        let v = peer("a b/../$(x) -rf");
        assert!(render("{{signature}}", &v, Place::Header).is_ok());
        assert!(render("{{signature}}", &v, Place::Env).is_ok());
        assert!(render("{{signature}}", &v, Place::Data).is_ok());
        for closes in [r#"x","admin":true,"y":""#, "a\\", "a&b=c", "<x>", "a\nb"] {
            let err = render(r#"{"sig":"{{signature}}"}"#, &peer(closes), Place::Data);
            assert!(err.is_err(), "{closes}");
        }
        let smuggled = render("x{{signature}}", &peer("a\r\nX-Admin: 1"), Place::Header);
        assert!(
            smuggled
                .unwrap_err()
                .to_string()
                .contains("control character '\\r'"),
        );
        assert!(render("{{signature}}", &peer("a\0b"), Place::Env).is_err());
    }

    #[test]
    fn a_refused_value_is_quoted_short_and_escaped() {
        let long = format!("{}\n", "x/".repeat(500));
        let err = render("{{signature}}", &peer(&long), Place::Word).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.len() < 400, "{text}");
    }
}
