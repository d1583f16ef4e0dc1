//! Giving back the start's code: starting up runs code that a running bridge never runs again (the
//! command line, opening and migrating the database, reading the settings), and the kernel maps the
//! binary's code around each first touch in 64 KiB pieces, so an idle bridge would keep about 12
//! MiB of its 30 MiB of code resident. Once the start is over, [`code_pages`] drops this process's
//! mappings of its own code pages with `MADV_DONTNEED`: the pages stay in the page cache, shared
//! and clean, and what runs again is mapped again on its next use (a minor fault per piece). The
//! bridge does this again every [`EVERY`], for what requests mapped in between. Only mappings of the binary
//! with no private (written) page are touched — the relocated data is left alone — so nothing is
//! lost, only unmapped.

use std::time::Duration;

/// How long after opening the bridge waits before giving its start's code back.
pub const AFTER_START: Duration = Duration::from_secs(2);

/// How often, after that, the code that requests have mapped since is given back. The next
/// request maps what it runs again: a minor fault per 64 KiB piece, no disk read.
pub const EVERY: Duration = Duration::from_secs(600);

/// Drops this process's mappings of its own unwritten code and read-only data pages; the bytes
/// given back. Linux only (elsewhere nothing happens).
pub fn code_pages() -> usize {
    #[cfg(target_os = "linux")]
    {
        linux::code_pages()
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

#[cfg(target_os = "linux")]
mod linux {
    /// One mapping of the binary, from `/proc/self/smaps`.
    struct Mapping {
        start: usize,
        end: usize,
        ours: bool,
        writable: bool,
        private_pages: bool,
        resident_kib: usize,
    }

    pub fn code_pages() -> usize {
        let Ok(exe) = std::fs::read_link("/proc/self/exe") else { return 0 };
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return 0 };
        let exe = exe.to_string_lossy().into_owned();
        let mut given = 0;
        for mapping in mappings(&smaps, &exe) {
            if !mapping.ours || mapping.writable || mapping.private_pages || mapping.resident_kib == 0 {
                continue;
            }
            let length = mapping.end - mapping.start;
            // SAFETY: the range is a whole mapping of this process's own binary, read-only, with no
            // page written since it was mapped (no `Anonymous` page): dropping it loses nothing, and
            // the next access maps the same bytes again from the file.
            let dropped = unsafe { libc::madvise(mapping.start as *mut libc::c_void, length, libc::MADV_DONTNEED) };
            if dropped == 0 {
                given += mapping.resident_kib * 1024;
            }
        }
        given
    }

    fn mappings(smaps: &str, exe: &str) -> Vec<Mapping> {
        let mut found: Vec<Mapping> = Vec::new();
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let first = fields.next().unwrap_or_default();
            if let Some((start, end)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
                let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else {
                    continue;
                };
                let perms = fields.next().unwrap_or_default();
                let path = fields.nth(3).unwrap_or_default();
                found.push(Mapping {
                    start,
                    end,
                    ours: path == exe,
                    writable: perms.contains('w'),
                    private_pages: false,
                    resident_kib: 0,
                });
            } else if let Some(current) = found.last_mut() {
                let kib = || fields.clone().next().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
                match first {
                    "Rss:" => current.resident_kib = kib(),
                    // A page written since it was mapped is a private copy, counted here (a file page
                    // that is merely dirty in the page cache, as a freshly built binary's are, is
                    // `Private_Dirty` but not `Anonymous`, and is the file's).
                    "Anonymous:" if kib() > 0 => current.private_pages = true,
                    _ => {}
                }
            }
        }
        found
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_the_binarys_clean_read_only_mappings_are_chosen() {
            let smaps = "\
5600-5700 r--p 00000000 fe:00 1 /usr/bin/harbor-bridge
Rss:                 100 kB
Anonymous:             0 kB
Private_Dirty:       100 kB
5700-5900 r-xp 00100000 fe:00 1 /usr/bin/harbor-bridge
Rss:                 900 kB
Anonymous:             0 kB
5900-5a00 r--p 00300000 fe:00 1 /usr/bin/harbor-bridge
Rss:                  40 kB
Anonymous:            40 kB
5a00-5b00 rw-p 00400000 fe:00 1 /usr/bin/harbor-bridge
Rss:                   8 kB
7f00-7f10 r-xp 00000000 fe:00 2 /usr/lib/libc.so.6
Rss:                 500 kB
";
            let chosen: Vec<(usize, usize)> = mappings(smaps, "/usr/bin/harbor-bridge")
                .into_iter()
                .filter(|m| m.ours && !m.writable && !m.private_pages && m.resident_kib > 0)
                .map(|m| (m.start, m.resident_kib))
                .collect();
            assert_eq!(chosen, [(0x5600, 100), (0x5700, 900)], "the relocated data, the writable data and libc stay");
        }
    }
}
