//! A pure, deterministic generator of a synthetic BPO for `bposhield demo`.
//!
//! [`generate`] builds three delivery centres (Pune, Manila, Cebu), seven process units of
//! fictional clients, about sixty teams, about two thousand people and a few hundred
//! platform users. It does no I/O and never reads the clock: every id, name and date comes
//! from a [`StdRng`] seeded with the caller's seed, and "today" is passed in, so the same
//! `(seed, today)` always gives the same organisation.
//!
//! The data is deliberately not perfect, so that a fresh demo shows honest failing
//! controls: the Hooli process unit has no `process_head` user, two teams have no
//! `team_manager` user, and fifteen people who have left still hold agent logins.

use std::collections::HashSet;

use bposhield_proto::{
    EmploymentStatus, GrantInput, PersonId, PersonInput, ProcessId, ProcessInput, Role, Scope, SiteId, SiteInput,
    TeamId, TeamInput,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use time::Date;
use uuid::Uuid;

/// A generated organisation, in an order that can be inserted as is: sites, then process
/// units, then teams, then people (managers before their reports), then users.
#[derive(Debug, Clone)]
pub struct DemoOrg {
    /// The delivery centres.
    pub sites: Vec<(SiteId, SiteInput)>,
    /// The process units; each names its site.
    pub processes: Vec<(ProcessId, ProcessInput)>,
    /// The teams, with the site of their process unit.
    pub teams: Vec<(TeamId, SiteId, TeamInput)>,
    /// The people; every `manager_id` appears before the people it manages.
    pub people: Vec<(PersonId, PersonInput)>,
    /// The platform users; the showcase users come first.
    pub users: Vec<DemoUser>,
}

/// A platform user to create (the caller chooses the password).
#[derive(Debug, Clone)]
pub struct DemoUser {
    /// Unique sign-in name, lowercase `[a-z0-9._-]`, starting with a letter.
    pub username: String,
    /// "Given Family".
    pub display_name: String,
    /// The person this user is, if any; no two users share a person.
    pub person_id: Option<PersonId>,
    /// The roles of this user.
    pub grants: Vec<GrantInput>,
    /// True for the one printed sign-in per role.
    pub showcase: bool,
}

/// The date used when `today` is not a valid `YYYY-MM-DD` date.
const FALLBACK_TODAY: Date = time::macros::date!(2025 - 01 - 01);
/// The earliest hire date.
const EARLIEST_HIRE: Date = time::macros::date!(2015 - 01 - 01);
/// Share of people who have left (terminated, exit date in the past).
const TERMINATED_SHARE: f64 = 0.05;
/// Share of suspended people.
const SUSPENDED_SHARE: f64 = 0.02;
/// Active people serving their notice period (exit date in the coming weeks).
const NOTICE_PERIOD: usize = 12;
/// Agent users linked to people who have left.
const LEAVER_USERS: usize = 15;
/// Agent users linked to current agents.
const CURRENT_AGENT_USERS: usize = 285;
/// The process unit (index into [`PROCESSES`]) left without a `process_head` user.
const NO_HEAD_PROCESS: usize = 6;
/// Teams `(process index, team index)` left without a `team_manager` user.
const NO_MANAGER_TEAMS: [(usize, usize); 2] = [(1, 8), (5, 8)];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    India,
    Philippines,
}

struct SiteDef {
    code: &'static str,
    name: &'static str,
    city: &'static str,
    country: &'static str,
    region: Region,
}

const SITES: [SiteDef; 3] = [
    SiteDef {
        code: "PNQ1",
        name: "Pune Hinjewadi delivery centre",
        city: "Pune",
        country: "India",
        region: Region::India,
    },
    SiteDef {
        code: "MNL1",
        name: "Manila Ortigas delivery centre",
        city: "Manila",
        country: "Philippines",
        region: Region::Philippines,
    },
    SiteDef {
        code: "CEB1",
        name: "Cebu IT Park delivery centre",
        city: "Cebu City",
        country: "Philippines",
        region: Region::Philippines,
    },
];

struct ProcessDef {
    site: usize,
    code: &'static str,
    name: &'static str,
    client: &'static str,
    team_label: &'static str,
    agent_role: &'static str,
    teams: usize,
}

const PROCESSES: [ProcessDef; 7] = [
    ProcessDef {
        site: 0,
        code: "ACME-CARDS-IN",
        name: "Acme Bank cards, inbound",
        client: "Acme Bank",
        team_label: "Cards Inbound",
        agent_role: "Customer service associate",
        teams: 9,
    },
    ProcessDef {
        site: 1,
        code: "GLOBEX-BILLING",
        name: "Globex Telecom billing",
        client: "Globex Telecom",
        team_label: "Billing",
        agent_role: "Customer service associate",
        teams: 9,
    },
    ProcessDef {
        site: 0,
        code: "INITECH-CLAIMS",
        name: "Initech Insurance claims",
        client: "Initech Insurance",
        team_label: "Claims",
        agent_role: "Claims processing associate",
        teams: 8,
    },
    ProcessDef {
        site: 2,
        code: "UMBRELLA-MEMBERS",
        name: "Umbrella Health member services",
        client: "Umbrella Health",
        team_label: "Member Services",
        agent_role: "Member services associate",
        teams: 9,
    },
    ProcessDef {
        site: 1,
        code: "STARK-CHAT",
        name: "Stark Retail chat support",
        client: "Stark Retail",
        team_label: "Chat Support",
        agent_role: "Chat support associate",
        teams: 8,
    },
    ProcessDef {
        site: 2,
        code: "WAYNE-BOOKINGS",
        name: "Wayne Travel bookings",
        client: "Wayne Travel",
        team_label: "Bookings",
        agent_role: "Travel booking associate",
        teams: 9,
    },
    ProcessDef {
        site: 0,
        code: "HOOLI-TECH",
        name: "Hooli Cloud technical support",
        client: "Hooli Cloud",
        team_label: "Tech Support",
        agent_role: "Technical support associate",
        teams: 8,
    },
];

/// Support departments of every site: (lead role, [(member role, how many)]).
/// Leads report to the site director, members to their lead.
const DEPARTMENTS: [(&str, &[(&str, usize)]); 5] = [
    (
        "HR manager",
        &[
            ("HR business partner", 3),
            ("Talent acquisition specialist", 2),
            ("HR operations executive", 1),
            ("Payroll executive", 1),
        ],
    ),
    ("IT manager", &[("Systems administrator", 2), ("Network engineer", 1), ("IT support engineer", 4)]),
    ("Information security officer", &[("Compliance analyst", 1), ("Internal auditor", 1)]),
    ("Quality and training manager", &[("Quality analyst", 4), ("Process trainer", 3)]),
    ("Workforce manager", &[("Workforce management analyst", 3)]),
];

const INDIAN_GIVEN: &[&str] = &[
    "Aarav",
    "Aditi",
    "Aditya",
    "Akash",
    "Amit",
    "Ananya",
    "Anil",
    "Anjali",
    "Ankit",
    "Anusha",
    "Arjun",
    "Ashwini",
    "Bhavna",
    "Chetan",
    "Deepak",
    "Deepika",
    "Devendra",
    "Divya",
    "Ganesh",
    "Gauri",
    "Harish",
    "Harshita",
    "Isha",
    "Jayant",
    "Jyoti",
    "Kavya",
    "Kiran",
    "Kunal",
    "Lakshmi",
    "Madhuri",
    "Mahesh",
    "Manisha",
    "Meera",
    "Mohit",
    "Neha",
    "Nikhil",
    "Nisha",
    "Omkar",
    "Pallavi",
    "Pankaj",
    "Pooja",
    "Prachi",
    "Pradeep",
    "Prakash",
    "Pranav",
    "Prasad",
    "Priya",
    "Rahul",
    "Rajesh",
    "Rakesh",
    "Ravi",
    "Rohan",
    "Rohit",
    "Ruchi",
    "Sachin",
    "Sagar",
    "Sakshi",
    "Sameer",
    "Sandeep",
    "Sanjay",
    "Sapna",
    "Shreya",
    "Shubham",
    "Siddharth",
    "Sneha",
    "Sonal",
    "Suresh",
    "Swati",
    "Tanvi",
    "Tejas",
    "Tushar",
    "Varun",
    "Vikas",
    "Vikram",
    "Vinay",
    "Vishal",
    "Yash",
    "Yogesh",
    "Zoya",
    "Farhan",
    "Ayesha",
    "Imran",
    "Sana",
    "Rutuja",
    "Snehal",
    "Vaishnavi",
    "Aniket",
    "Kedar",
    "Mrunal",
    "Ketaki",
];

const INDIAN_FAMILY: &[&str] = &[
    "Agarwal",
    "Apte",
    "Bapat",
    "Bhagat",
    "Bhosale",
    "Chavan",
    "Chaudhari",
    "Deshmukh",
    "Deshpande",
    "Dixit",
    "Gaikwad",
    "Gokhale",
    "Gupta",
    "Iyer",
    "Jadhav",
    "Jain",
    "Joshi",
    "Kadam",
    "Kale",
    "Kamble",
    "Kapoor",
    "Karve",
    "Kulkarni",
    "Kumar",
    "Lokhande",
    "Mahajan",
    "Malhotra",
    "Mane",
    "Mehta",
    "Menon",
    "Mishra",
    "More",
    "Naik",
    "Nair",
    "Pandey",
    "Patankar",
    "Patil",
    "Pawar",
    "Phadke",
    "Pillai",
    "Rao",
    "Reddy",
    "Sabale",
    "Sathe",
    "Sawant",
    "Shah",
    "Sharma",
    "Shetty",
    "Shinde",
    "Shirke",
    "Singh",
    "Sinha",
    "Sonawane",
    "Srivastava",
    "Thakur",
    "Tiwari",
    "Trivedi",
    "Upadhyay",
    "Vaidya",
    "Verma",
    "Wagh",
    "Yadav",
    "Bhatt",
    "Chopra",
    "Das",
    "Dutta",
    "Fernandes",
    "D'Souza",
    "Ghosh",
    "Godbole",
    "Hegde",
    "Inamdar",
    "Kher",
    "Khan",
    "Shaikh",
    "Sayyed",
    "Mulla",
    "Pathak",
    "Ranade",
    "Salunkhe",
    "Tambe",
    "Waghmare",
    "Ghorpade",
    "Nikam",
    "Pingle",
];

const FILIPINO_GIVEN: &[&str] = &[
    "Maria",
    "Jose",
    "Juan",
    "Mark",
    "John Paul",
    "Mary Grace",
    "Kristine",
    "Angelica",
    "Jerome",
    "Ramon",
    "Rowena",
    "Rodel",
    "Jayson",
    "Jericho",
    "Jasmine",
    "Camille",
    "Patricia",
    "Katrina",
    "Joanna",
    "Rhea",
    "Marvin",
    "Michael",
    "Christian",
    "Carlo",
    "Paolo",
    "Miguel",
    "Gabriel",
    "Rafael",
    "Andrea",
    "Bea",
    "Nicole",
    "Princess",
    "Lovely",
    "Joy",
    "Mae",
    "Analyn",
    "Marites",
    "Rosalie",
    "Lourdes",
    "Teresita",
    "Rogelio",
    "Ernesto",
    "Eduardo",
    "Danilo",
    "Arnel",
    "Romeo",
    "Reynaldo",
    "Noel",
    "Ronaldo",
    "Francis",
    "Kenneth",
    "Kevin",
    "Ryan",
    "Dennis",
    "Jonathan",
    "Aldrin",
    "Gilbert",
    "Arvin",
    "Ariel",
    "Jomar",
    "Jolina",
    "Cherry",
    "Shiela",
    "Maricel",
    "Marilou",
    "Lorna",
    "Divina",
    "Erlinda",
    "Jennifer",
    "Rachelle",
    "Kimberly",
    "Czarina",
    "Bianca",
    "Trisha",
    "Ella",
    "Hazel",
    "Ivy",
    "Kathleen",
    "Liezel",
    "Mylene",
    "Niño",
    "Dindo",
    "Rica",
    "Abegail",
    "Leonora",
    "Honeylyn",
    "Jeffrey",
    "Rommel",
];

const FILIPINO_FAMILY: &[&str] = &[
    "Santos",
    "Reyes",
    "Cruz",
    "Bautista",
    "Ocampo",
    "Garcia",
    "Mendoza",
    "Torres",
    "Tomas",
    "Andrada",
    "Castillo",
    "Flores",
    "Villanueva",
    "Ramos",
    "Castro",
    "Rivera",
    "Aquino",
    "Navarro",
    "Salazar",
    "Mercado",
    "Dela Cruz",
    "De Leon",
    "De Guzman",
    "Del Rosario",
    "Gonzales",
    "Lopez",
    "Hernandez",
    "Perez",
    "Domingo",
    "Manalo",
    "Pascual",
    "Soriano",
    "Valdez",
    "Aguilar",
    "Fernandez",
    "Gutierrez",
    "Dizon",
    "Marquez",
    "Santiago",
    "Enriquez",
    "Alvarez",
    "Romero",
    "Lim",
    "Tan",
    "Sy",
    "Co",
    "Ong",
    "Chua",
    "Go",
    "Uy",
    "Panganiban",
    "Macapagal",
    "Magbanua",
    "Dimaculangan",
    "Dimaano",
    "Dalisay",
    "Mangubat",
    "Lacson",
    "Tolentino",
    "Samonte",
    "Cabrera",
    "Espiritu",
    "Evangelista",
    "Galang",
    "Ignacio",
    "Javier",
    "Lagman",
    "Malonzo",
    "Mabini",
    "Natividad",
    "Ordoñez",
    "Pacheco",
    "Quiambao",
    "Roxas",
    "Sison",
    "Tuazon",
    "Umali",
    "Velasco",
    "Yap",
    "Zamora",
    "Abellana",
    "Alcantara",
    "Cabahug",
    "Sarmiento",
    "Montemayor",
    "Bacalso",
    "Cuizon",
    "Gabisan",
];

/// What a person is, for choosing statuses and users.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Manages someone: site director, department lead, process head, team leader.
    Leader,
    /// A support-department member (HR, IT, security, quality, workforce).
    Staff,
    /// An agent on the floor.
    Agent,
}

/// How long ago someone may have been hired.
#[derive(Clone, Copy)]
enum Tenure {
    Founder,
    Senior,
    Any,
}

/// Adds (or with a negative count, subtracts) days to a date; saturates at the calendar's
/// limits instead of failing.
fn add_days(date: Date, days: i64) -> Date {
    date.checked_add(time::Duration::days(days)).unwrap_or(date)
}

/// Parses `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).ok()
}

/// Formats as `YYYY-MM-DD`.
fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Lowercase ASCII for e-mail addresses and usernames: keeps only `[a-z0-9.]`.
fn ascii_slug(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ñ' => 'n',
            'á' | 'à' | 'â' => 'a',
            'é' | 'è' | 'ê' => 'e',
            'í' | 'î' => 'i',
            'ó' | 'ô' => 'o',
            'ú' | 'ü' => 'u',
            c => c,
        })
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.')
        .collect()
}

/// `base`, or `base2`, `base3`… whichever is not taken yet; records the choice.
fn unique(taken: &mut HashSet<String>, base: &str) -> String {
    let mut n = 1u32;
    loop {
        let candidate = if n == 1 { base.to_owned() } else { format!("{base}{n}") };
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

fn random_uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

/// Picks a day in `lo..=hi` (or `lo` when the range is empty).
fn random_day(rng: &mut StdRng, lo: Date, hi: Date) -> Date {
    let span = (hi - lo).whole_days();
    if span <= 0 {
        lo
    } else {
        add_days(lo, rng.gen_range(0..=span))
    }
}

struct Builder {
    rng: StdRng,
    today: Date,
    earliest: Date,
    people: Vec<(PersonId, PersonInput)>,
    kinds: Vec<Kind>,
    protected: Vec<bool>,
    local_parts: HashSet<String>,
    next_employee: u32,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn person(
        &mut self,
        region: Region,
        site_id: SiteId,
        process_id: Option<ProcessId>,
        team_id: Option<TeamId>,
        manager_id: Option<PersonId>,
        job_role: &str,
        kind: Kind,
        tenure: Tenure,
    ) -> usize {
        let id = PersonId(random_uuid(&mut self.rng));
        let (given, family) = match region {
            Region::India => (INDIAN_GIVEN, INDIAN_FAMILY),
            Region::Philippines => (FILIPINO_GIVEN, FILIPINO_FAMILY),
        };
        let given_name = given[self.rng.gen_range(0..given.len())].to_owned();
        let family_name = family[self.rng.gen_range(0..family.len())].to_owned();
        let base = format!("{}.{}", ascii_slug(&given_name), ascii_slug(&family_name));
        let local = unique(&mut self.local_parts, &base);
        self.next_employee += self.rng.gen_range(1..=5);
        let latest = add_days(self.today, -14);
        let hire = match tenure {
            Tenure::Founder => random_day(&mut self.rng, self.earliest, add_days(self.earliest, 3 * 365).min(latest)),
            Tenure::Senior => random_day(&mut self.rng, self.earliest, add_days(self.today, -365)),
            Tenure::Any => {
                // Contact-centre attrition: most of the floor was hired in the last years.
                let span = (latest - self.earliest).whole_days().max(0) as f64;
                let x: f64 = self.rng.gen();
                add_days(latest, -((x * x * span) as i64))
            }
        };
        let hire = hire.clamp(self.earliest, latest.max(self.earliest));
        self.people.push((
            id,
            PersonInput {
                employee_id: format!("E{:06}", self.next_employee),
                given_name,
                family_name,
                email: Some(format!("{local}@demo-bpo.example")),
                site_id,
                process_id,
                team_id,
                manager_id,
                job_role: job_role.to_owned(),
                status: EmploymentStatus::Active,
                hire_date: format_date(hire),
                exit_date: None,
            },
        ));
        self.kinds.push(kind);
        self.protected.push(kind == Kind::Leader);
        self.people.len() - 1
    }

    fn id(&self, i: usize) -> PersonId {
        self.people[i].0
    }

    fn hire_date(&self, i: usize) -> Date {
        parse_date(&self.people[i].1.hire_date).unwrap_or(self.earliest)
    }
}

fn user(
    username: &str,
    person: Option<&(PersonId, PersonInput)>,
    role: Role,
    scope: Scope,
    showcase: bool,
) -> DemoUser {
    DemoUser {
        username: username.to_owned(),
        display_name: person
            .map_or_else(|| username.to_owned(), |(_, p)| format!("{} {}", p.given_name, p.family_name)),
        person_id: person.map(|(id, _)| *id),
        grants: vec![GrantInput { role, scope }],
        showcase,
    }
}

/// The e-mail local part of a person (unique, and a valid username).
fn local_part(p: &PersonInput) -> String {
    p.email
        .as_deref()
        .and_then(|e| e.split_once('@'))
        .map_or_else(|| ascii_slug(&format!("{}.{}", p.given_name, p.family_name)), |(l, _)| l.to_owned())
}

/// Generates the demo organisation for `seed`, with dates relative to `today`
/// (`YYYY-MM-DD`; an unparsable date falls back to 2025-01-01).
///
/// Pure and deterministic: no I/O, no clock; the same arguments give the same result.
#[must_use]
pub fn generate(seed: u64, today: &str) -> DemoOrg {
    let today = parse_date(today).unwrap_or(FALLBACK_TODAY);
    let earliest = EARLIEST_HIRE.min(add_days(today, -3 * 365));
    let mut b = Builder {
        rng: StdRng::seed_from_u64(seed),
        today,
        earliest,
        people: Vec::new(),
        kinds: Vec::new(),
        protected: Vec::new(),
        local_parts: HashSet::new(),
        next_employee: 100_000,
    };

    let sites: Vec<(SiteId, SiteInput)> = SITES
        .iter()
        .map(|s| {
            let id = SiteId(random_uuid(&mut b.rng));
            let input = SiteInput {
                code: s.code.to_owned(),
                name: s.name.to_owned(),
                city: s.city.to_owned(),
                country: s.country.to_owned(),
            };
            (id, input)
        })
        .collect();

    let processes: Vec<(ProcessId, ProcessInput)> = PROCESSES
        .iter()
        .map(|p| {
            let id = ProcessId(random_uuid(&mut b.rng));
            let input = ProcessInput {
                site_id: sites[p.site].0,
                code: p.code.to_owned(),
                name: p.name.to_owned(),
                client: p.client.to_owned(),
            };
            (id, input)
        })
        .collect();

    // Teams, and for each process the indices of its teams in `teams`.
    let mut teams: Vec<(TeamId, SiteId, TeamInput)> = Vec::new();
    let mut teams_of: Vec<Vec<usize>> = Vec::new();
    for (pdef, (pid, pin)) in PROCESSES.iter().zip(&processes) {
        let mut own = Vec::new();
        for n in 1..=pdef.teams {
            let id = TeamId(random_uuid(&mut b.rng));
            let name = format!("{} T{n:02}", pdef.team_label);
            own.push(teams.len());
            teams.push((id, pin.site_id, TeamInput { process_id: *pid, name }));
        }
        teams_of.push(own);
    }

    // People, site by site: the director, the support departments, then each process
    // unit of the site with its head, team leaders and agents.
    let mut directors = Vec::new();
    let mut leads: Vec<Vec<usize>> = Vec::new(); // per site, per department: lead index
    let mut members: Vec<Vec<Vec<usize>>> = Vec::new(); // per site, per department
    let mut heads = vec![0usize; PROCESSES.len()];
    let mut team_leaders = vec![0usize; teams.len()];
    let mut first_agent = vec![0usize; teams.len()];
    for (s, sdef) in SITES.iter().enumerate() {
        let site_id = sites[s].0;
        let region = sdef.region;
        let director = b.person(region, site_id, None, None, None, "Site director", Kind::Leader, Tenure::Founder);
        directors.push(director);
        let mut site_leads = Vec::new();
        let mut site_members = Vec::new();
        for (lead_role, roles) in DEPARTMENTS {
            let director_id = b.id(director);
            let lead =
                b.person(region, site_id, None, None, Some(director_id), lead_role, Kind::Leader, Tenure::Senior);
            let lead_id = b.id(lead);
            let mut dept = Vec::new();
            for &(role, count) in roles {
                for _ in 0..count {
                    dept.push(b.person(region, site_id, None, None, Some(lead_id), role, Kind::Staff, Tenure::Any));
                }
            }
            site_leads.push(lead);
            site_members.push(dept);
        }
        leads.push(site_leads);
        members.push(site_members);

        for (p, pdef) in PROCESSES.iter().enumerate().filter(|(_, d)| d.site == s) {
            let pid = processes[p].0;
            let director_id = b.id(director);
            let head = b.person(
                region,
                site_id,
                Some(pid),
                None,
                Some(director_id),
                "Process head",
                Kind::Leader,
                Tenure::Senior,
            );
            heads[p] = head;
            let head_id = b.id(head);
            for &t in &teams_of[p] {
                let tid = teams[t].0;
                let tl = b.person(
                    region,
                    site_id,
                    Some(pid),
                    Some(tid),
                    Some(head_id),
                    "Team leader",
                    Kind::Leader,
                    Tenure::Senior,
                );
                team_leaders[t] = tl;
                let tl_id = b.id(tl);
                let size = b.rng.gen_range(28..=32);
                for k in 0..size {
                    let role = if b.rng.gen_bool(0.12) {
                        format!("Senior {}", pdef.agent_role.to_lowercase())
                    } else {
                        pdef.agent_role.to_owned()
                    };
                    let a =
                        b.person(region, site_id, Some(pid), Some(tid), Some(tl_id), &role, Kind::Agent, Tenure::Any);
                    if k == 0 {
                        first_agent[t] = a;
                    }
                }
            }
        }
    }

    // The people behind the showcase users stay active and current.
    let acme_team = teams_of[0][0];
    let dept_member = |s: usize, d: usize, k: usize| members[s][d].get(k).copied();
    let showcase_people = [
        dept_member(0, 1, 0),          // admin: a Pune systems administrator
        Some(leads[0][2]),             // iso: the Pune information security officer
        Some(leads[0][0]),             // hradmin: the Pune HR manager
        Some(leads[0][1]),             // itadmin: the Pune IT manager
        dept_member(0, 2, 1),          // auditor: the Pune internal auditor
        Some(directors[0]),            // exec: the Pune site director
        Some(heads[0]),                // head.acme
        Some(team_leaders[acme_team]), // tl.acme01
        Some(first_agent[acme_team]),  // agent.acme
    ];
    for i in showcase_people.iter().flatten() {
        b.protected[*i] = true;
    }

    // Employment status: leavers, suspensions and notice periods among the non-leaders.
    let total = b.people.len();
    let mut pool: Vec<usize> = (0..total).filter(|&i| !b.protected[i]).collect();
    pool.shuffle(&mut b.rng);
    let terminated = ((total as f64) * TERMINATED_SHARE).round() as usize;
    let suspended = ((total as f64) * SUSPENDED_SHARE).round() as usize;
    let yesterday = add_days(today, -1);
    for (n, &i) in pool.iter().enumerate() {
        let hire = b.hire_date(i);
        if n < terminated {
            let lo = hire.max(add_days(today, -540));
            let exit = random_day(&mut b.rng, lo, yesterday.max(hire));
            let p = &mut b.people[i].1;
            p.status = EmploymentStatus::Terminated;
            p.exit_date = Some(format_date(exit));
        } else if n < terminated + suspended {
            b.people[i].1.status = EmploymentStatus::Suspended;
        } else if n < terminated + suspended + NOTICE_PERIOD {
            let exit = random_day(&mut b.rng, add_days(today, 7), add_days(today, 45));
            b.people[i].1.exit_date = Some(format_date(exit));
        } else {
            break;
        }
    }

    // Users. Showcase sign-ins first, one per role.
    let people = &b.people;
    let pick = |i: Option<usize>| i.and_then(|i| people.get(i));
    let acme_pid = processes[0].0;
    let acme_tid = teams[acme_team].0;
    let showcase: [(&str, Role, Scope); 9] = [
        ("admin", Role::PlatformAdmin, Scope::Global),
        ("iso", Role::SecurityOfficer, Scope::Global),
        ("hradmin", Role::Hr, Scope::Global),
        ("itadmin", Role::ItAdmin, Scope::Global),
        ("auditor", Role::Auditor, Scope::Global),
        ("exec", Role::Executive, Scope::Global),
        ("head.acme", Role::ProcessHead, Scope::Process(acme_pid)),
        ("tl.acme01", Role::TeamManager, Scope::Team(acme_tid)),
        ("agent.acme", Role::Agent, Scope::Team(acme_tid)),
    ];
    let mut users: Vec<DemoUser> = showcase
        .iter()
        .zip(showcase_people)
        .map(|(&(name, role, scope), person)| user(name, pick(person), role, scope, true))
        .collect();
    users.push(DemoUser {
        username: "vendor.kiran".to_owned(),
        display_name: "Kiran Bhandari (Nimbus Dialer support)".to_owned(),
        person_id: None,
        grants: vec![GrantInput { role: Role::ThirdParty, scope: Scope::Global }],
        showcase: true,
    });
    let mut usernames: HashSet<String> = users.iter().map(|u| u.username.clone()).collect();
    let mut linked: HashSet<usize> = showcase_people.iter().flatten().copied().collect();
    let mut add = |users: &mut Vec<DemoUser>, i: usize, role: Role, scope: Scope| {
        if linked.insert(i) {
            let name = unique(&mut usernames, &local_part(&people[i].1));
            users.push(user(&name, Some(&people[i]), role, scope, false));
        }
    };

    // Process heads, except the Hooli one (an honest failing control).
    for (p, &head) in heads.iter().enumerate() {
        if p != NO_HEAD_PROCESS {
            add(&mut users, head, Role::ProcessHead, Scope::Process(processes[p].0));
        }
    }
    // Team managers, except two teams (another honest failing control).
    let unmanaged: Vec<usize> =
        NO_MANAGER_TEAMS.iter().filter_map(|&(p, t)| teams_of.get(p).and_then(|v| v.get(t)).copied()).collect();
    for (t, &tl) in team_leaders.iter().enumerate() {
        if !unmanaged.contains(&t) {
            add(&mut users, tl, Role::TeamManager, Scope::Team(teams[t].0));
        }
    }
    // Agents: mostly current ones, plus leavers who still hold a login.
    let agents = |status: EmploymentStatus| -> Vec<usize> {
        (0..people.len())
            .filter(|&i| b.kinds[i] == Kind::Agent && people[i].1.status == status)
            .filter(|i| !showcase_people.contains(&Some(*i)))
            .collect()
    };
    let mut leavers = agents(EmploymentStatus::Terminated);
    let mut current = agents(EmploymentStatus::Active);
    leavers.shuffle(&mut b.rng);
    current.shuffle(&mut b.rng);
    let mut chosen: Vec<usize> =
        leavers.into_iter().take(LEAVER_USERS).chain(current.into_iter().take(CURRENT_AGENT_USERS)).collect();
    chosen.sort_unstable();
    for i in chosen {
        if let Some(tid) = people[i].1.team_id {
            add(&mut users, i, Role::Agent, Scope::Team(tid));
        }
    }

    DemoOrg { sites, processes, teams, people: b.people, users }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TODAY: &str = "2026-03-15";
    const SEEDS: [u64; 4] = [0, 1, 42, 20_260_315];

    #[test]
    fn deterministic() {
        let a = format!("{:?}", generate(7, TODAY));
        let b = format!("{:?}", generate(7, TODAY));
        assert_eq!(a, b);
        assert_ne!(a, format!("{:?}", generate(8, TODAY)));
        assert_ne!(a, format!("{:?}", generate(7, "2026-03-16")));
    }

    #[test]
    fn counts_in_range() {
        for seed in SEEDS {
            let o = generate(seed, TODAY);
            assert_eq!(o.sites.len(), 3);
            assert_eq!(o.processes.len(), 7);
            assert!((55..=65).contains(&o.teams.len()), "{}", o.teams.len());
            assert!((1_900..=2_200).contains(&o.people.len()), "{}", o.people.len());
            let n = o.people.len() as f64;
            let count = |s| o.people.iter().filter(|(_, p)| p.status == s).count() as f64;
            let active = count(EmploymentStatus::Active) / n;
            let suspended = count(EmploymentStatus::Suspended) / n;
            let terminated = count(EmploymentStatus::Terminated) / n;
            assert!((0.91..=0.95).contains(&active), "{active}");
            assert!((0.01..=0.03).contains(&suspended), "{suspended}");
            assert!((0.04..=0.06).contains(&terminated), "{terminated}");
            let notice = o
                .people
                .iter()
                .filter(|(_, p)| p.status == EmploymentStatus::Active && p.exit_date.as_deref() > Some(TODAY))
                .count();
            assert!((3..=20).contains(&notice), "{notice}");
            assert!((350..=400).contains(&o.users.len()), "{}", o.users.len());
        }
    }

    #[test]
    fn managers_come_first_and_places_are_consistent() {
        for seed in SEEDS {
            let o = generate(seed, TODAY);
            let site_of_process: HashMap<_, _> = o.processes.iter().map(|(id, p)| (*id, p.site_id)).collect();
            let site_ids: HashSet<_> = o.sites.iter().map(|(id, _)| *id).collect();
            assert!(site_of_process.values().all(|s| site_ids.contains(s)));
            let mut team_place = HashMap::new();
            for (tid, site, t) in &o.teams {
                assert_eq!(site_of_process.get(&t.process_id), Some(site));
                team_place.insert(*tid, (*site, t.process_id));
            }
            let mut seen = HashSet::new();
            for (id, p) in &o.people {
                if let Some(m) = p.manager_id {
                    assert!(seen.contains(&m), "manager of {} comes later", p.employee_id);
                }
                assert!(seen.insert(*id), "duplicate person id");
                assert!(site_ids.contains(&p.site_id));
                if let Some(pid) = p.process_id {
                    assert_eq!(site_of_process.get(&pid), Some(&p.site_id));
                }
                if let Some(tid) = p.team_id {
                    assert_eq!(team_place.get(&tid), Some(&(p.site_id, p.process_id.unwrap())));
                }
                let floor = p.job_role == "Team leader" || p.job_role.ends_with(" associate");
                assert_eq!(p.team_id.is_some(), floor, "{}", p.job_role);
            }
        }
    }

    #[test]
    fn identifiers_unique_and_well_formed() {
        for seed in SEEDS {
            let o = generate(seed, TODAY);
            let mut emp = HashSet::new();
            let mut mail = HashSet::new();
            for (_, p) in &o.people {
                assert!(emp.insert(p.employee_id.clone()));
                let e = &p.employee_id;
                assert!(e.len() == 7 && e.starts_with('E') && e[1..].bytes().all(|c| c.is_ascii_digit()));
                let m = p.email.clone().unwrap();
                let (local, domain) = m.split_once('@').unwrap();
                assert_eq!(domain, "demo-bpo.example");
                assert!(local.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.'));
                assert!(mail.insert(m.clone()), "{m}");
                assert!(bposhield_core::validate::person(p).is_empty(), "{p:?}");
            }
            for (_, s) in &o.sites {
                assert!(bposhield_core::validate::site(s).is_empty(), "{s:?}");
            }
            for (_, p) in &o.processes {
                assert!(bposhield_core::validate::process(p).is_empty(), "{p:?}");
            }
            for (_, _, t) in &o.teams {
                assert!(bposhield_core::validate::team(t).is_empty(), "{t:?}");
            }
            let mut names = HashSet::new();
            let mut persons = HashSet::new();
            for u in &o.users {
                assert!(names.insert(u.username.clone()), "{}", u.username);
                let mut problems = Vec::new();
                bposhield_core::validate::username(&mut problems, &u.username);
                assert!(problems.is_empty(), "{}", u.username);
                assert!(!u.display_name.trim().is_empty());
                if let Some(pid) = u.person_id {
                    assert!(persons.insert(pid), "two users for one person");
                }
            }
        }
    }

    #[test]
    fn dates_valid() {
        for seed in SEEDS {
            let o = generate(seed, TODAY);
            for (_, p) in &o.people {
                assert!(parse_date(&p.hire_date).is_some());
                assert!(p.hire_date.as_str() >= "2015-01-01" && p.hire_date.as_str() <= TODAY);
                if let Some(x) = &p.exit_date {
                    assert!(parse_date(x).is_some());
                    assert!(x >= &p.hire_date, "{} exits before hire", p.employee_id);
                }
                match p.status {
                    EmploymentStatus::Terminated => {
                        assert!(p.exit_date.as_deref().is_some_and(|x| x < TODAY));
                    }
                    _ => assert!(p.exit_date.as_deref().is_none_or(|x| x > TODAY)),
                }
            }
        }
        assert_eq!(format_date(add_days(parse_date("2024-02-28").unwrap(), 1)), "2024-02-29");
        assert_eq!(format_date(add_days(parse_date("2025-01-01").unwrap(), -1)), "2024-12-31");
        // A bad `today` still yields valid data.
        let o = generate(1, "not a date");
        assert!(o.people.iter().all(|(_, p)| p.hire_date.as_str() <= "2025-01-01"));
    }

    #[test]
    fn showcase_users_one_per_role() {
        let o = generate(3, TODAY);
        let people: HashMap<_, _> = o.people.iter().map(|(id, p)| (*id, p)).collect();
        let show: Vec<&DemoUser> = o.users.iter().filter(|u| u.showcase).collect();
        assert_eq!(show.len(), Role::ALL.len());
        for role in Role::ALL {
            let holders: Vec<_> = show.iter().filter(|u| u.grants[0].role == role).collect();
            assert_eq!(holders.len(), 1, "{role}");
            let u = holders[0];
            assert_eq!(u.grants.len(), 1);
            match u.person_id {
                None => assert_eq!(u.username, "vendor.kiran"),
                Some(pid) => {
                    let p = people[&pid];
                    assert_eq!(p.status, EmploymentStatus::Active);
                    assert!(p.exit_date.is_none());
                    assert_eq!(u.display_name, format!("{} {}", p.given_name, p.family_name));
                }
            }
        }
        let by_name: HashMap<_, _> = show.iter().map(|u| (u.username.as_str(), *u)).collect();
        let acme = o.processes[0].0;
        let acme_t01 = o.teams.iter().find(|(_, _, t)| t.process_id == acme).unwrap().0;
        assert_eq!(by_name["head.acme"].grants[0].scope, Scope::Process(acme));
        assert_eq!(by_name["tl.acme01"].grants[0].scope, Scope::Team(acme_t01));
        assert_eq!(by_name["agent.acme"].grants[0].scope, Scope::Team(acme_t01));
        let role_of = |n: &str| people[&by_name[n].person_id.unwrap()].job_role.as_str();
        assert_eq!(role_of("hradmin"), "HR manager");
        assert_eq!(role_of("iso"), "Information security officer");
        assert_eq!(role_of("head.acme"), "Process head");
        assert_eq!(role_of("tl.acme01"), "Team leader");
        assert_eq!(role_of("auditor"), "Internal auditor");
        let agent = people[&by_name["agent.acme"].person_id.unwrap()];
        assert_eq!(agent.team_id, Some(acme_t01));
        for u in &show {
            if let Scope::Team(t) = u.grants[0].scope {
                let p = people[&u.person_id.unwrap()];
                assert_eq!(p.team_id, Some(t));
            }
        }
    }

    #[test]
    fn honest_failing_controls() {
        for seed in SEEDS {
            let o = generate(seed, TODAY);
            let people: HashMap<_, _> = o.people.iter().map(|(id, p)| (*id, p)).collect();
            let with = |role: Role| -> HashSet<Scope> {
                o.users.iter().flat_map(|u| &u.grants).filter(|g| g.role == role).map(|g| g.scope).collect()
            };
            let heads = with(Role::ProcessHead);
            let headless: Vec<_> = o
                .processes
                .iter()
                .filter(|(id, _)| !heads.contains(&Scope::Process(*id)))
                .map(|(_, p)| p.code.as_str())
                .collect();
            assert_eq!(headless, ["HOOLI-TECH"]);
            let managers = with(Role::TeamManager);
            let unmanaged = o.teams.iter().filter(|(id, _, _)| !managers.contains(&Scope::Team(*id))).count();
            assert_eq!(unmanaged, 2);
            let agents: Vec<_> = o.users.iter().filter(|u| !u.showcase && u.grants[0].role == Role::Agent).collect();
            assert_eq!(agents.len(), LEAVER_USERS + CURRENT_AGENT_USERS);
            let leavers =
                agents.iter().filter(|u| people[&u.person_id.unwrap()].status == EmploymentStatus::Terminated).count();
            assert_eq!(leavers, LEAVER_USERS);
            // Users hold the role matching their person, at their person's place.
            for u in &o.users {
                let Some(pid) = u.person_id else { continue };
                let p = people[&pid];
                match u.grants[0] {
                    GrantInput { role: Role::Agent | Role::TeamManager, scope } => {
                        assert_eq!(Some(scope), p.team_id.map(Scope::Team));
                    }
                    GrantInput { role: Role::ProcessHead, scope } => {
                        assert_eq!(Some(scope), p.process_id.map(Scope::Process));
                    }
                    _ => assert!(u.showcase),
                }
            }
        }
    }
}
