//! Financial statements: which pages of a report hold them, and which of
//! them a question is about.
//!
//! Annual and quarterly reports put their figures in a few statements — the
//! income statement, the balance sheet, the cash-flow statement — and most
//! numeric questions about a company ("FY2018 capital expenditure", "net
//! PP&E", "days payable outstanding") are answered on one of those pages.
//! Their rows rarely share words with the question (capex is "Purchases of
//! property, plant and equipment"), so a passage search alone misses them.
//! Here a page is told to be a statement by its title at the top and its
//! columns of amounts, and a question's wanted statements are told from the
//! statement it names or the line items it asks about. [`crate::rank`]
//! then brings those pages of the documents the question is about into the
//! candidates with a bonus. Documents that are not financial reports have no
//! statement pages and are ranked as before.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::loader::PageText;

/// The primary statements of a financial report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statement {
    Income,
    Comprehensive,
    Balance,
    CashFlow,
    Equity,
}

/// A statement page of a document: its page number and which statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementPage {
    pub page: u32,
    pub kind: Statement,
}

/// How much of a page's top is read for its title, in characters.
const TOP_CHARS: usize = 400;
/// A statement page holds at least this many amounts ("1,577", "(370)",
/// "12.5"): tables of contents and auditors' reports name the statements
/// but hold no columns of figures.
const MIN_AMOUNTS: usize = 15;

/// Titles, matched against the page's top with everything but letters
/// removed ("Consolidated Statement of Cash Flow s" → "…statementofcashflows").
const TITLES: [(&str, Statement); 17] = [
    ("statementofcashflow", Statement::CashFlow),
    ("statementsofcashflow", Statement::CashFlow),
    ("cashflowstatement", Statement::CashFlow),
    ("balancesheet", Statement::Balance),
    ("statementoffinancialposition", Statement::Balance),
    ("statementsoffinancialposition", Statement::Balance),
    ("statementofcondition", Statement::Balance),
    ("statementsofcomprehensive", Statement::Comprehensive),
    ("statementofcomprehensive", Statement::Comprehensive),
    ("statementofincome", Statement::Income),
    ("statementsofincome", Statement::Income),
    ("statementofoperations", Statement::Income),
    ("statementsofoperations", Statement::Income),
    ("statementofearnings", Statement::Income),
    ("statementsofearnings", Statement::Income),
    ("incomestatement", Statement::Income),
    ("equity", Statement::Equity),
];

/// What a page's top says it is not, though it names a statement.
const NOT_STATEMENTS: [&str; 5] = [
    "notesto",
    "indexto",
    "reportofindependent",
    "tableofcontents",
    "selectedfinancialdata",
];

static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\(?\$?\d{1,3}(?:,\d{3})+(?:\.\d+)?\)?|\(\d+(?:\.\d+)?\)|\b\d+\.\d+\b")
        .expect("amount regex")
});

/// Which statement `text` (one page) is, if it is one.
pub fn page_kind(text: &str) -> Option<Statement> {
    let mut top = String::new();
    let mut read = 0;
    for line in text.lines() {
        let letters: String = line
            .chars()
            .filter(|c| c.is_alphabetic())
            .flat_map(char::to_lowercase)
            .collect();
        read += line.chars().count();
        // Running heads are skipped, not taken for the page's title.
        if letters == "tableofcontents" || letters == "index" || letters == "contents" {
            continue;
        }
        top.push_str(&letters);
        if read >= TOP_CHARS {
            break;
        }
    }
    if NOT_STATEMENTS.iter().any(|n| top.contains(n)) {
        return None;
    }
    let (_, kind) = TITLES
        .iter()
        .filter_map(|(t, k)| Some((top.find(t)?, *k)))
        .filter(|(at, k)| {
            // "Equity" is a title only where it is the statement's name.
            *k != Statement::Equity || {
                let before = &top[..*at];
                before.ends_with("shareholders")
                    || before.ends_with("stockholders")
                    || before.ends_with("shareowners")
                    || before.ends_with("changesin")
                    || before.ends_with("statementsof")
                    || before.ends_with("statementof")
            }
        })
        .min_by_key(|(at, _)| *at)?;
    (AMOUNT.find_iter(text).count() >= MIN_AMOUNTS).then_some(kind)
}

/// The primary statements follow one another within this many pages.
const RUN_PAGES: u32 = 8;
/// A run of statement pages is the primary statements when it holds at
/// least this many kinds.
const RUN_KINDS: usize = 3;

/// The statement pages of a document, in page order. Reports also title
/// summary tables and a parent company's condensed statements like the
/// statements themselves; where the document has a run of pages holding
/// most kinds (the primary statements, one after another), only that run
/// is kept.
pub fn statement_pages(pages: &[PageText]) -> Vec<StatementPage> {
    let all: Vec<StatementPage> = pages
        .iter()
        .filter_map(|p| {
            Some(StatementPage {
                page: p.number?,
                kind: page_kind(&p.text)?,
            })
        })
        .collect();
    primary_run(all)
}

fn primary_run(all: Vec<StatementPage>) -> Vec<StatementPage> {
    let mut best: Option<(usize, usize, usize)> = None; // (kinds, from, to)
    for (i, first) in all.iter().enumerate() {
        let run: Vec<&StatementPage> = all[i..]
            .iter()
            .take_while(|p| p.page < first.page + RUN_PAGES)
            .collect();
        let mut kinds: Vec<Statement> = run.iter().map(|p| p.kind).collect();
        kinds.sort_by_key(|k| *k as u8);
        kinds.dedup();
        if best.is_none_or(|(n, _, _)| kinds.len() > n) {
            best = Some((kinds.len(), i, i + run.len()));
        }
    }
    match best {
        Some((n, from, to)) if n >= RUN_KINDS => all[from..to].to_vec(),
        _ => all,
    }
}

/// Statement pages as stored in the catalog.
pub fn to_json(pages: &[StatementPage]) -> String {
    serde_json::to_string(pages).unwrap_or_else(|_| "[]".into())
}

/// Statement pages from the catalog; what does not read is none.
pub fn from_json(json: &str) -> Vec<StatementPage> {
    serde_json::from_str(json).unwrap_or_default()
}

/// What a question names, and which statements answer it. Line items are
/// those of any company's statements; a question naming a statement gets it.
const WANTS: [(&str, &[Statement]); 6] = [
    (
        r"cash\s*flows?\s+statement|statements?\s+of\s+cash\s*flows?|cash\s*flows?\s+from|operating\s+cash\s*flows?|cash\s+(generated\s+)?(from|by)\s+operati|free\s+cash\s*flows?|capex|capital\s+(expenditures?|spending)|purchases?\s+of\s+property|dividends?\s+(paid|payout)|(share|stock)\s+(repurchases?|buybacks?)|depreciation|amortization",
        &[Statement::CashFlow],
    ),
    (
        r"balance\s+sheets?|financial\s+position|total\s+assets|current\s+(assets|liabilities)|working\s+capital|quick\s+ratio|current\s+ratio|cash\s+ratio|pp\s*&\s*e|ppne|property,?\s+plant|fixed\s+assets|inventor(y|ies)|receivables?|payables?|total\s+(debt|liabilities|equity)|long.term\s+debt|(shareholders|stockholders)'?\s+equity|goodwill|cash\s+and\s+(cash\s+)?equivalents|debt.to.(equity|assets|capital)|book\s+value|largest\s+liabilit",
        &[Statement::Balance],
    ),
    (
        r"income\s+statements?|statements?\s+of\s+(income|operations|earnings)|p\s*&\s*l\b|profit\s+and\s+loss|revenues?|net\s+sales|\bsales\b|cost\s+of\s+(goods|sales|revenues?)|\bcogs\b|gross\s+(margin|profit)|operating\s+(income|margin|profit|expenses?|loss)|net\s+(income|earnings|profit|loss)|earnings\s+per\s+share|\beps\b|\bebit(da)?\b|interest\s+expense|effective\s+tax\s+rate|provision\s+for\s+income\s+tax|research\s+and\s+development|sg\s*&\s*a",
        &[Statement::Income],
    ),
    (
        r"days\s+(payable|sales|inventory)|\bdpo\b|\bdso\b|\bdio\b|turnover|return\s+on\s+(assets|equity|invested)|\broa\b|\broe\b|\broic\b|interest\s+coverage",
        &[Statement::Income, Statement::Balance],
    ),
    (
        r"capital.intensive|capital\s+intensity",
        &[Statement::CashFlow, Statement::Balance, Statement::Income],
    ),
    (
        r"comprehensive\s+income|statements?\s+of\s+(changes\s+in\s+)?(shareholders|stockholders)'?\s+equity|changes\s+in\s+equity",
        &[Statement::Comprehensive, Statement::Equity],
    ),
];

static WANT_RES: LazyLock<Vec<(Regex, &'static [Statement])>> = LazyLock::new(|| {
    WANTS
        .iter()
        .map(|(re, kinds)| {
            (
                Regex::new(&format!("(?i){re}")).expect("statement question regex"),
                *kinds,
            )
        })
        .collect()
});

/// The statements that answer `query`, none for a question about no figure.
pub fn wanted(query: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    for (re, kinds) in WANT_RES.iter() {
        if re.is_match(query) {
            for k in *kinds {
                if !out.contains(k) {
                    out.push(*k);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cash_flow_page() -> String {
        let mut t = String::from(
            "Table of Contents\n3M Company and Subsidiaries\nConsolidated Statement of Cash Flow s\nYears ended December 31\n(Millions)\n2018\n2017\n",
        );
        for i in 0..20 {
            t.push_str(&format!("Line item {i}\n(1,{i:03})\n2,{i:03}\n"));
        }
        t
    }

    #[test]
    fn a_statement_page_is_told_by_its_title_and_amounts() {
        assert_eq!(page_kind(&cash_flow_page()), Some(Statement::CashFlow));
        let balance = cash_flow_page().replace("Statement of Cash Flow s", "Balance Sheet");
        assert_eq!(page_kind(&balance), Some(Statement::Balance));
        let ops = cash_flow_page().replace(
            "Statement of Cash Flow s",
            "Statements of Operations and Comprehensive Income",
        );
        assert_eq!(page_kind(&ops), Some(Statement::Income));
    }

    #[test]
    fn pages_naming_statements_without_figures_are_not_statements() {
        let toc = "Index to Financial Statements\nConsolidated Balance Sheets 58\nConsolidated Statements of Cash Flows 60\n";
        assert_eq!(page_kind(toc), None);
        let notes = cash_flow_page().replace(
            "Consolidated Statement of Cash Flow s",
            "Notes to Consolidated Financial Statements\nStatement of cash flows",
        );
        assert_eq!(page_kind(&notes), None);
        let prose = "Item 7. Management's Discussion\nOur balance sheet remains strong.\n";
        assert_eq!(page_kind(prose), None);
    }

    #[test]
    fn the_primary_statements_outrank_tables_titled_like_them() {
        let p = |page, kind| StatementPage { page, kind };
        let all = vec![
            p(44, Statement::Income),
            p(96, Statement::Income),
            p(97, Statement::Comprehensive),
            p(98, Statement::Balance),
            p(99, Statement::CashFlow),
            p(100, Statement::Equity),
            p(146, Statement::Income),
        ];
        let kept: Vec<u32> = primary_run(all).iter().map(|s| s.page).collect();
        assert_eq!(kept, [96, 97, 98, 99, 100]);
        // An earnings release has no run: every statement page is kept.
        let release = vec![p(10, Statement::Income), p(11, Statement::Income)];
        assert_eq!(primary_run(release.clone()), release);
        let json = to_json(&release);
        assert_eq!(from_json(&json), release);
        assert!(from_json("not json").is_empty());
    }

    #[test]
    fn questions_want_the_statement_they_name_or_whose_lines_they_ask_about() {
        assert_eq!(
            wanted("What is the FY2018 capital expenditure amount for 3M?"),
            [Statement::CashFlow]
        );
        assert_eq!(
            wanted("Using the balance sheet, what is year-end net PPNE?"),
            [Statement::Balance]
        );
        let dpo = wanted("What is FY2020 days payable outstanding (DPO) for Corning?");
        assert!(dpo.contains(&Statement::Balance) && dpo.contains(&Statement::Income));
        assert!(wanted("Who are the primary customers of Boeing?").is_empty());
        assert!(wanted("Is Boeing's business subject to cyclicality?").is_empty());
    }
}
