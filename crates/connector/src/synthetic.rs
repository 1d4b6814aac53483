//! A synthetic company for the mock platforms, tests and benchmarks: the
//! same people, deterministic for a seed, rendered by each platform in its
//! own way.
//!
//! [`Company::generate`] makes `n` [`Person`]s (工号, Chinese name with its
//! pinyin and English variant, e-mail, mobile, department, title, hire
//! date) and, for each [`Platform`], one [`Account`] per person: the
//! platform's own account id (never the 工号) and the identity keys as that
//! platform shows them. The accounts carry the quirks real tenants have and
//! that identity normalization must absorb:
//!
//! - full-width digits in a 工号 typed with a Chinese IME (`１０４１７`),
//!   a 工号 with stray (ideographic) spaces;
//! - e-mail in another case (`Wei.Wang@ACME.example`);
//! - mobiles as `13800000417`, `138 0000 0417`, `+86 13800000417`,
//!   `+86-138-0000-0417`, `0086 138 0000 0417`;
//! - a missing 工号 or e-mail on one platform (the person is then matched
//!   by the other keys).
//!
//! The mocks add quirks of their own shapes (e.g. the Zendesk mock leaves
//! the `employee_no` user field of a few agents empty and carries the 工号
//! in `external_id` only).
//!
//! No quirk changes a key's normal form ([`hrhub_model::MatchKey::normalize`]),
//! so without seeded conflicts every person is one employee everywhere.
//!
//! Conflicts are seeded on purpose ([`Company::with_conflicts`],
//! [`Company::with_conflict`]): one person's account on one platform gets
//! another person's key. Each is recorded as a [`SeededConflict`] so a test
//! can assert exactly what identity resolution should report.

use chrono::{Days, NaiveDate};
use hrhub_model::MatchKey;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A platform the company uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    DingTalk,
    WeCom,
    Zendesk,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::DingTalk, Platform::WeCom, Platform::Zendesk];

    /// The connector kind (`dingtalk`, `wecom`, `zendesk`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::DingTalk => "dingtalk",
            Platform::WeCom => "wecom",
            Platform::Zendesk => "zendesk",
        }
    }

    /// The identity keys the platform's shipped users mapping reads
    /// (Zendesk's `phone` is copied to the employee but not matched on).
    pub fn identity_keys(self) -> &'static [MatchKey] {
        match self {
            Platform::Zendesk => &[MatchKey::EmployeeNo, MatchKey::Email],
            Platform::DingTalk | Platform::WeCom => &MatchKey::DEFAULT,
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One person of the company, with the canonical values of their keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// Position in [`Company::people`].
    pub index: usize,
    /// 工号, ASCII digits (`10001`...).
    pub employee_no: String,
    /// Chinese name, family name first (`王伟`). Names repeat, as they do.
    pub name: String,
    /// Pinyin of the family and given name (`wang`, `wei`).
    pub family_pinyin: String,
    pub given_pinyin: String,
    /// The English variant, given name first (`Wei Wang`).
    pub english_name: String,
    /// Lower-case company address, unique (`wei.wang@acme.example`,
    /// `wei.wang2@...` for the second 王伟).
    pub email: String,
    /// E.164, unique (`+8613800000417`).
    pub mobile: String,
    /// A department name of [`DEPARTMENTS`].
    pub department: String,
    pub title: String,
    pub hire_date: NaiveDate,
}

impl Person {
    /// The 11 national digits of the mobile (`13800000417`).
    pub fn national_mobile(&self) -> &str {
        self.mobile.trim_start_matches("+86")
    }
}

/// A person as one platform knows them: the platform's account id and the
/// identity keys exactly as the platform renders them (quirks and seeded
/// conflicts included). `None` means the platform has no value.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The person ([`Person::index`]).
    pub person: usize,
    /// The platform's own id: a DingTalk userid, a WeCom userid, a Zendesk
    /// user id (decimal). Never the 工号.
    pub id: String,
    /// The display name (Chinese on DingTalk and WeCom, English on Zendesk).
    pub name: String,
    pub employee_no: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

impl Account {
    /// The key's value as shown.
    pub fn key(&self, key: MatchKey) -> Option<&str> {
        match key {
            MatchKey::EmployeeNo => self.employee_no.as_deref(),
            MatchKey::Email => self.email.as_deref(),
            MatchKey::Mobile => self.mobile.as_deref(),
        }
    }

    fn key_mut(&mut self, key: MatchKey) -> &mut Option<String> {
        match key {
            MatchKey::EmployeeNo => &mut self.employee_no,
            MatchKey::Email => &mut self.email,
            MatchKey::Mobile => &mut self.mobile,
        }
    }
}

/// A key of `person`'s account on `platform` that was set to `owner`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct SeededConflict {
    pub platform: Platform,
    /// Whose account carries the wrong key.
    pub person: usize,
    /// Whose key it is.
    pub owner: usize,
    pub key: MatchKey,
    /// The value as the platform shows it.
    pub value: String,
}

impl SeededConflict {
    /// The value's normal form, as identity resolution reports it.
    pub fn normalized_value(&self) -> String {
        self.key
            .normalize(&self.value)
            .expect("a seeded value is never blank")
    }
}

/// (department, titles): the department names are those of the DingTalk
/// mock's tree, so that mock can place people where the company says.
pub const DEPARTMENTS: [(&str, &[&str]); 8] = [
    ("一线客服", &["客服专员", "客服专员", "客服组长"]),
    ("二线客服", &["技术支持", "高级技术支持"]),
    ("质检组", &["质检专员"]),
    ("后端组", &["后端工程师", "高级后端工程师", "架构师"]),
    ("前端组", &["前端工程师", "高级前端工程师"]),
    ("华东大区", &["销售代表", "销售经理"]),
    ("人力资源部", &["HRBP", "招聘专员"]),
    ("财务部", &["会计", "出纳"]),
];
/// Relative department sizes (support is the biggest team).
const DEPARTMENT_WEIGHTS: [u64; 8] = [30, 15, 5, 15, 10, 12, 7, 6];

const FAMILY: [(&str, &str); 24] = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("高", "gao"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
];
const GIVEN: [(&str, &str); 32] = [
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("磊", "lei"),
    ("强", "qiang"),
    ("洋", "yang"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀英", "xiuying"),
    ("建华", "jianhua"),
    ("志强", "zhiqiang"),
    ("晓明", "xiaoming"),
    ("丽娟", "lijuan"),
    ("海燕", "haiyan"),
    ("俊杰", "junjie"),
    ("子涵", "zihan"),
    ("欣怡", "xinyi"),
    ("浩然", "haoran"),
    ("梓轩", "zixuan"),
    ("雨桐", "yutong"),
    ("一鸣", "yiming"),
    ("思远", "siyuan"),
    ("嘉怡", "jiayi"),
    ("文博", "wenbo"),
    ("佳琪", "jiaqi"),
    ("宇航", "yuhang"),
    ("婷", "ting"),
];
const MOBILE_PREFIXES: [&str; 8] = ["138", "139", "135", "186", "150", "177", "188", "159"];
/// Hire dates lie within ten years before this day.
const HIRE_ANCHOR: (i32, u32, u32) = (2025, 1, 1);

/// splitmix64 over (seed, a, b): every value is a pure function of its inputs.
/// A deterministic 64-bit mix of a seed and two numbers (splitmix64 style):
/// the one source of pseudo-randomness for every mock, so the same seed
/// gives the same data everywhere.
pub fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// ASCII digits to full-width (`０`–`９`); other characters unchanged.
pub fn full_width_digits(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// A mobile (`+86…` with 11 national digits) in one of the ways people type it.
fn mobile_format(national: &str, style: u64) -> String {
    let (a, b, c) = (&national[..3], &national[3..7], &national[7..]);
    match style % 5 {
        0 => national.to_string(),
        1 => format!("{a} {b} {c}"),
        2 => format!("+86 {national}"),
        3 => format!("+86-{a}-{b}-{c}"),
        _ => format!("0086 {a} {b} {c}"),
    }
}

/// An e-mail with its local part or domain in other case.
fn email_case(email: &str, style: u64) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    match style % 3 {
        0 => format!(
            "{}@{domain}",
            local
                .split('.')
                .map(capitalize)
                .collect::<Vec<_>>()
                .join(".")
        ),
        1 => format!("{local}@{}", domain.to_uppercase()),
        _ => email.to_uppercase(),
    }
}

/// A synthetic company: people, their accounts on each platform, and the
/// conflicts seeded into those accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Company {
    pub seed: u64,
    pub people: Vec<Person>,
    /// Per platform (in [`Platform::ALL`] order), one account per person, by index.
    accounts: [Vec<Account>; 3],
    conflicts: Vec<SeededConflict>,
}

impl Company {
    /// `people` people with their accounts; same seed, same company.
    pub fn generate(seed: u64, people: usize) -> Company {
        let hire_anchor = NaiveDate::from_ymd_opt(HIRE_ANCHOR.0, HIRE_ANCHOR.1, HIRE_ANCHOR.2)
            .expect("valid anchor date");
        let total_weight: u64 = DEPARTMENT_WEIGHTS.iter().sum();
        let mut emails: HashMap<String, usize> = HashMap::new();
        let mut wecom_ids: HashMap<String, usize> = HashMap::new();
        let mut persons = Vec::with_capacity(people);
        let mut accounts: [Vec<Account>; 3] = Default::default();
        for i in 0..people {
            let n = i as u64;
            let (family, family_py) = FAMILY[(mix(seed, n, 1) % FAMILY.len() as u64) as usize];
            let (given, given_py) = GIVEN[(mix(seed, n, 2) % GIVEN.len() as u64) as usize];
            let base = format!("{given_py}.{family_py}");
            let same = emails.entry(base.clone()).or_insert(0);
            *same += 1;
            let email = if *same == 1 {
                format!("{base}@acme.example")
            } else {
                format!("{base}{same}@acme.example")
            };
            // unique: n ↦ n · 12 345 679 is a bijection mod 10^8 (coprime to 10)
            let national = format!(
                "{}{:08}",
                MOBILE_PREFIXES[(mix(seed, n, 3) % MOBILE_PREFIXES.len() as u64) as usize],
                (n * 12_345_679 + mix(seed, 0, 4)) % 100_000_000
            );
            let mut roll = mix(seed, n, 5) % total_weight;
            let mut dept = 0;
            while roll >= DEPARTMENT_WEIGHTS[dept] {
                roll -= DEPARTMENT_WEIGHTS[dept];
                dept += 1;
            }
            let (department, titles) = DEPARTMENTS[dept];
            let title = titles[(mix(seed, n, 6) % titles.len() as u64) as usize];
            let person = Person {
                index: i,
                employee_no: format!("{}", 10_001 + n),
                name: format!("{family}{given}"),
                family_pinyin: family_py.into(),
                given_pinyin: given_py.into(),
                english_name: format!("{} {}", capitalize(given_py), capitalize(family_py)),
                email,
                mobile: format!("+86{national}"),
                department: department.into(),
                title: title.into(),
                hire_date: hire_anchor - Days::new(30 + mix(seed, n, 7) % 3_600),
            };

            // Platform ids.
            let dingtalk_id = format!(
                "{:05}{:04}{:03}",
                10_000 + mix(seed, n, 10) % 90_000,
                i % 10_000,
                mix(seed, n, 11) % 1_000
            );
            let wecom_base = format!("{}{}", capitalize(family_py), capitalize(given_py));
            let same = wecom_ids.entry(wecom_base.to_lowercase()).or_insert(0);
            *same += 1;
            let wecom_id = if *same == 1 {
                wecom_base
            } else {
                format!("{wecom_base}{same:02}")
            };
            let zendesk_id = (361_000_000_000 + n * 1_013 + mix(seed, n, 12) % 1_000).to_string();

            // Quirks: at most one "missing key" per person, on one platform.
            let q = |salt: u64| mix(seed, n, salt) % 100;
            let missing = q(20);
            let mut dt = Account {
                person: i,
                id: dingtalk_id,
                name: person.name.clone(),
                employee_no: Some(person.employee_no.clone()),
                email: Some(person.email.clone()),
                mobile: Some(national.clone()),
            };
            let mut wc = Account {
                person: i,
                id: wecom_id,
                name: person.name.clone(),
                employee_no: Some(person.employee_no.clone()),
                email: Some(person.email.clone()),
                mobile: Some(mobile_format(&national, mix(seed, n, 21))),
            };
            let mut zd = Account {
                person: i,
                id: zendesk_id,
                name: person.english_name.clone(),
                employee_no: Some(person.employee_no.clone()),
                email: Some(person.email.clone()),
                mobile: Some(mobile_format(&national, 1 + mix(seed, n, 22) % 4)),
            };
            // DingTalk: HR types some 工号 with a Chinese IME; a few people have none yet.
            if q(23) < 6 {
                dt.employee_no = dt.employee_no.map(|e| full_width_digits(&e));
            }
            if q(24) < 4 {
                dt.email = dt.email.map(|e| email_case(&e, mix(seed, n, 25)));
            }
            // WeCom: the custom attribute is free text.
            match q(26) {
                0..=5 => wc.employee_no = wc.employee_no.map(|e| full_width_digits(&e)),
                6..=8 => wc.employee_no = wc.employee_no.map(|e| format!("\u{3000}{e} ")),
                _ => {}
            }
            if q(27) < 12 {
                wc.email = wc.email.map(|e| email_case(&e, mix(seed, n, 28)));
            }
            // Zendesk: agents often sign up with their own capitalisation.
            if q(29) < 15 {
                zd.email = zd.email.map(|e| email_case(&e, mix(seed, n, 30)));
            }
            match missing {
                0..=1 => dt.employee_no = None,
                2..=3 => wc.employee_no = None,
                4 => dt.email = None,
                5 => wc.email = None,
                _ => {}
            }
            // person 0 is the Zendesk account owner: keep their account plain
            if i == 0 {
                zd.email = Some(person.email.clone());
            }
            accounts[Platform::DingTalk.slot()].push(dt);
            accounts[Platform::WeCom.slot()].push(wc);
            accounts[Platform::Zendesk.slot()].push(zd);
            persons.push(person);
        }
        Company {
            seed,
            people: persons,
            accounts,
            conflicts: Vec::new(),
        }
    }

    /// Seeds `n` conflicts, spread over the platforms and their matched keys
    /// (e-mail and mobile; Zendesk: e-mail): each picks a person and an
    /// owner not involved in any other conflict (never person 0, the
    /// Zendesk account owner) and sets the person's key on that platform to
    /// the owner's, rendered as the platform renders keys. The person's
    /// 工号 there stays theirs, so the account still says who it is. The
    /// owner's own account keeps its value.
    pub fn with_conflicts(self, n: usize) -> Company {
        self.with_conflicts_on(&Platform::ALL, n)
    }

    /// [`Company::with_conflicts`] on these platforms only.
    pub fn with_conflicts_on(mut self, platforms: &[Platform], n: usize) -> Company {
        let plan: Vec<(Platform, MatchKey)> = [
            (Platform::WeCom, MatchKey::Email),
            (Platform::DingTalk, MatchKey::Mobile),
            (Platform::Zendesk, MatchKey::Email),
            (Platform::WeCom, MatchKey::Mobile),
            (Platform::DingTalk, MatchKey::Email),
        ]
        .into_iter()
        .filter(|(p, _)| platforms.contains(p))
        .collect();
        assert!(
            n == 0 || !plan.is_empty(),
            "no platform to seed conflicts on"
        );
        let mut used: HashSet<usize> = self
            .conflicts
            .iter()
            .flat_map(|c| [c.person, c.owner])
            .collect();
        used.insert(0);
        let mut attempt = 0u64;
        for k in 0..n {
            let (platform, key) = plan[k % plan.len()];
            let (person, owner) = loop {
                attempt += 1;
                assert!(
                    attempt < 100_000,
                    "not enough people for {n} seeded conflicts"
                );
                let len = self.people.len() as u64;
                let person = (mix(self.seed, attempt, 40) % len) as usize;
                let owner = (mix(self.seed, attempt, 41) % len) as usize;
                let fits = person != owner
                    && !used.contains(&person)
                    && !used.contains(&owner)
                    && self.account(platform, person).employee_no.is_some()
                    && self.account(platform, person).key(key).is_some();
                if fits {
                    break (person, owner);
                }
            };
            used.insert(person);
            used.insert(owner);
            self = self.with_conflict(platform, key, person, owner);
        }
        self
    }

    /// Sets `person`'s `key` on `platform` to `owner`'s value (rendered as
    /// that platform renders the key) and records the conflict. Any key
    /// may collide, the 工号 included.
    pub fn with_conflict(
        mut self,
        platform: Platform,
        key: MatchKey,
        person: usize,
        owner: usize,
    ) -> Company {
        let o = &self.people[owner];
        let value = match (platform, key) {
            (_, MatchKey::EmployeeNo) => o.employee_no.clone(),
            (_, MatchKey::Email) => o.email.clone(),
            (Platform::DingTalk, MatchKey::Mobile) => o.national_mobile().to_string(),
            (_, MatchKey::Mobile) => mobile_format(o.national_mobile(), 2),
        };
        *self.accounts[platform.slot()][person].key_mut(key) = Some(value.clone());
        self.conflicts.push(SeededConflict {
            platform,
            person,
            owner,
            key,
            value,
        });
        self
    }

    /// The conflicts seeded so far, in seeding order.
    pub fn conflicts(&self) -> &[SeededConflict] {
        &self.conflicts
    }

    /// Every person's account on `platform`, by person index.
    pub fn accounts(&self, platform: Platform) -> &[Account] {
        &self.accounts[platform.slot()]
    }

    pub fn account(&self, platform: Platform, person: usize) -> &Account {
        &self.accounts[platform.slot()][person]
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }
}

/// A learner from outside the company: a partner's or a contractor's staff
/// taking the company's courses. Training platforms know them; no roster
/// does (no 工号, an e-mail at a partner's domain), so their results stay
/// unmatched until someone links them. The training mocks add
/// [`Company::outsiders`] on request; outsider `j` is the same person on
/// every one of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Outsider {
    /// `company.len() + j`: a person index no [`Person`] has, so
    /// [`exam_sitting`] gives an outsider the same sittings on every mock.
    pub index: usize,
    /// Chinese name, family name first.
    pub name: String,
    pub family_pinyin: String,
    pub given_pinyin: String,
    /// Lower-case, at a partner's domain (`ext1.wei.wang@partner.example`).
    pub email: String,
    /// The user id a platform that needs one gives them (`EXT-0001`).
    pub user_id: String,
}

impl Company {
    /// `n` outsiders of this company (same seed, same outsiders).
    pub fn outsiders(&self, n: usize) -> Vec<Outsider> {
        (0..n)
            .map(|j| {
                let index = self.len() + j;
                let i = index as u64;
                let (family, family_py) =
                    FAMILY[(mix(self.seed, i, 1) % FAMILY.len() as u64) as usize];
                let (given, given_py) = GIVEN[(mix(self.seed, i, 2) % GIVEN.len() as u64) as usize];
                Outsider {
                    index,
                    name: format!("{family}{given}"),
                    family_pinyin: family_py.into(),
                    given_pinyin: given_py.into(),
                    email: format!("ext{}.{given_py}.{family_py}@partner.example", j + 1),
                    user_id: format!("EXT-{:04}", j + 1),
                }
            })
            .collect()
    }
}

/// How person `person` of a company with `seed` sat exam number `exam`
/// (the training mocks share exam numbers): the percentage of each attempt in order (the last is
/// the best), and how many days before `now` the last attempt ended
/// (1..=`history_days`). `None`: never sat it. Both training mocks render
/// these same sittings, so scores are comparable across platforms.
pub fn exam_sitting(
    seed: u64,
    person: usize,
    exam: usize,
    history_days: i64,
) -> Option<(Vec<u32>, i64)> {
    let (p, e) = (person as u64, exam as u64);
    if mix(seed, p, 100 + e) % 100 >= 85 {
        return None;
    }
    let attempts = 1 + (mix(seed, p, 110 + e) % 3) as usize;
    let best = 45 + (mix(seed, p, 120 + e) % 56) as u32;
    let percents = (0..attempts)
        .map(|k| {
            let behind = (attempts - 1 - k) as u32;
            best.saturating_sub(behind * (5 + (mix(seed, p, 130 + e) % 10) as u32))
        })
        .collect();
    let days_ago = 1 + (mix(seed, p, 140 + e) % history_days.max(1) as u64) as i64;
    Some((percents, days_ago))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(key: MatchKey, v: Option<&str>) -> Option<String> {
        v.and_then(|v| key.normalize(v))
    }

    #[test]
    fn generation_is_deterministic_and_keys_are_unique() {
        let a = Company::generate(11, 500);
        assert_eq!(a, Company::generate(11, 500));
        assert_ne!(a.people, Company::generate(12, 500).people);
        assert_eq!(a.len(), 500);
        for key in [MatchKey::EmployeeNo, MatchKey::Email, MatchKey::Mobile] {
            let values: HashSet<String> = a
                .people
                .iter()
                .map(|p| match key {
                    MatchKey::EmployeeNo => p.employee_no.clone(),
                    MatchKey::Email => p.email.clone(),
                    MatchKey::Mobile => p.mobile.clone(),
                })
                .collect();
            assert_eq!(values.len(), 500, "{key} repeats");
        }
        for p in Platform::ALL {
            let ids: HashSet<&str> = a.accounts(p).iter().map(|x| x.id.as_str()).collect();
            assert_eq!(ids.len(), 500, "{p} ids repeat");
            assert!(a
                .accounts(p)
                .iter()
                .all(|x| !a.people.iter().any(|q| q.employee_no == x.id)));
        }
        // names repeat, as in any company of this size
        let names: HashSet<&str> = a.people.iter().map(|p| p.name.as_str()).collect();
        assert!(names.len() < 500);
    }

    #[test]
    fn quirks_vary_the_rendering_but_not_the_normal_forms() {
        let c = Company::generate(11, 500);
        let mut quirks: HashMap<&str, usize> = HashMap::new();
        for p in &c.people {
            for platform in Platform::ALL {
                let acc = c.account(platform, p.index);
                for (key, canonical) in [
                    (MatchKey::EmployeeNo, &p.employee_no),
                    (MatchKey::Email, &p.email),
                    (MatchKey::Mobile, &p.mobile),
                ] {
                    match acc.key(key) {
                        None => *quirks.entry("missing").or_default() += 1,
                        Some(v) => {
                            assert_eq!(
                                normal(key, Some(v)).as_ref(),
                                Some(canonical),
                                "{platform} {key} {v:?}"
                            );
                            if v != canonical.as_str() {
                                *quirks.entry(key.as_str()).or_default() += 1;
                            }
                        }
                    }
                }
                // at least two keys everywhere, one of them 工号 or e-mail
                assert!(acc.employee_no.is_some() || acc.email.is_some());
            }
        }
        for q in ["missing", "employee_no", "email", "mobile"] {
            assert!(quirks.get(q).copied().unwrap_or(0) > 5, "{q}: {quirks:?}");
        }
        let wecom: HashSet<String> = c
            .accounts(Platform::WeCom)
            .iter()
            .filter_map(|a| a.mobile.clone())
            .map(|m| m.chars().filter(|c| !c.is_ascii_digit()).collect())
            .collect();
        assert!(wecom.len() >= 4, "mobile formats: {wecom:?}");
    }

    #[test]
    fn outsiders_share_no_key_with_the_company() {
        let c = Company::generate(5, 100);
        let o = c.outsiders(4);
        assert_eq!(o, c.outsiders(4));
        assert_eq!(o[0].index, 100);
        for x in &o {
            assert!(!c
                .people
                .iter()
                .any(|p| p.email == x.email || p.employee_no == x.user_id));
        }
        let emails: HashSet<&str> = o.iter().map(|x| x.email.as_str()).collect();
        assert_eq!(emails.len(), 4);
    }

    #[test]
    fn seeded_conflicts_are_recorded_and_applied() {
        let c = Company::generate(3, 200).with_conflicts(5);
        assert_eq!(c.conflicts().len(), 5);
        let mut involved = HashSet::new();
        for s in c.conflicts() {
            assert!(involved.insert(s.person) && involved.insert(s.owner));
            assert_ne!(s.person, 0);
            let acc = c.account(s.platform, s.person);
            assert_eq!(acc.key(s.key), Some(s.value.as_str()));
            let owner = &c.people[s.owner];
            let canonical = match s.key {
                MatchKey::EmployeeNo => &owner.employee_no,
                MatchKey::Email => &owner.email,
                MatchKey::Mobile => &owner.mobile,
            };
            assert_eq!(&s.normalized_value(), canonical);
            assert!(s.platform.identity_keys().contains(&s.key));
            // the account still names its person by 工号
            assert_eq!(
                normal(MatchKey::EmployeeNo, acc.employee_no.as_deref()).as_ref(),
                Some(&c.people[s.person].employee_no)
            );
        }
        let platforms: HashSet<Platform> = c.conflicts().iter().map(|s| s.platform).collect();
        assert_eq!(platforms.len(), 3);
        assert_eq!(c, Company::generate(3, 200).with_conflicts(5));
        let later = Company::generate(3, 200).with_conflicts_on(&[Platform::Zendesk], 2);
        assert!(later
            .conflicts()
            .iter()
            .all(|s| s.platform == Platform::Zendesk && s.key == MatchKey::Email));
    }
}
