//! The HR people file and the activity feeds come from outside (HR exports, badge
//! systems): both parsers must reject bad input row by row, never panic.
#![no_main]
use bposhield_identity::hrcsv::{self, ColumnMapping};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = hrcsv::parse(data, &ColumnMapping::default()) {
        // Line numbers point into the file: the header is line 1, rows come after it.
        for (line, _) in &report.records {
            assert!(*line >= 2);
        }
    }
    let (events, _) = hrcsv::parse_activity(data);
    let _ = hrcsv::latest_by_employee(&events);
});
