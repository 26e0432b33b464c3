//! What changed between two trees of files: a host directory as it was copied into a
//! board's flash, and the flash filesystem after the guest ran. [`changes`] is pure (it
//! compares two [`Tree`]s); [`host_tree`] and [`crate::FlashImage::tree`] make them.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::{read_host_dir, FsImageError};

/// A file's contents, or a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    File(Vec<u8>),
    Dir,
}

/// Files and directories by path (`/` between components, no leading `/`).
pub type Tree = BTreeMap<String, Node>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Removed,
}

/// One difference: `path` was added, changed (a file's contents) or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
    pub is_dir: bool,
}

/// What turned `before` into `after`, in an order that can be applied one by one to a
/// copy of `before`: removals first, each entry before the directory holding it, then
/// additions and changes, each directory before what it holds. A file that became a
/// directory (or the reverse) is a removal and an addition.
pub fn changes(before: &Tree, after: &Tree) -> Vec<Change> {
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for (path, old) in before {
        let is_dir = *old == Node::Dir;
        match after.get(path) {
            None => removed.push(Change {
                path: path.clone(),
                kind: ChangeKind::Removed,
                is_dir,
            }),
            Some(new) if (*new == Node::Dir) != is_dir => removed.push(Change {
                path: path.clone(),
                kind: ChangeKind::Removed,
                is_dir,
            }),
            Some(new) if new != old => added.push(Change {
                path: path.clone(),
                kind: ChangeKind::Changed,
                is_dir: false,
            }),
            Some(_) => {}
        }
    }
    for (path, new) in after {
        let is_dir = *new == Node::Dir;
        let was = before.get(path).map(|old| *old == Node::Dir);
        if was != Some(is_dir) {
            added.push(Change {
                path: path.clone(),
                kind: ChangeKind::Added,
                is_dir,
            });
        }
    }
    // A path sorts after every path it is a prefix of ("a/b" > "a").
    removed.sort_by(|a, b| b.path.cmp(&a.path));
    added.sort_by(|a, b| a.path.cmp(&b.path));
    removed.extend(added);
    removed
}

/// The files and directories under the host directory `dir`, read as
/// [`crate::build_image`] reads them (names FAT can hold, no case clashes, symbolic
/// links followed).
pub fn host_tree(dir: &Path) -> Result<Tree, FsImageError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(FsImageError::NotADirectory {
                path: dir.to_path_buf(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(FsImageError::DirectoryMissing {
                path: dir.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(FsImageError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    let mut tree = Tree::new();
    add_host_dir(dir, "", 0, &mut tree)?;
    Ok(tree)
}

fn add_host_dir(
    dir: &Path,
    prefix: &str,
    depth: usize,
    tree: &mut Tree,
) -> Result<(), FsImageError> {
    if depth >= crate::volume::MAX_DEPTH {
        return Err(FsImageError::Unsupported {
            path: dir.to_path_buf(),
        });
    }
    for e in read_host_dir(dir)? {
        let path = if prefix.is_empty() {
            e.name.clone()
        } else {
            format!("{prefix}/{}", e.name)
        };
        if e.is_dir {
            tree.insert(path.clone(), Node::Dir);
            add_host_dir(&e.path, &path, depth + 1, tree)?;
        } else {
            let data = fs::read(&e.path).map_err(|source| FsImageError::Read {
                path: e.path.clone(),
                source,
            })?;
            tree.insert(path, Node::File(data));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(items: &[(&str, Option<&[u8]>)]) -> Tree {
        items
            .iter()
            .map(|(p, d)| {
                (
                    p.to_string(),
                    match d {
                        Some(d) => Node::File(d.to_vec()),
                        None => Node::Dir,
                    },
                )
            })
            .collect()
    }

    fn show(c: &[Change]) -> Vec<String> {
        c.iter()
            .map(|c| {
                let k = match c.kind {
                    ChangeKind::Added => '+',
                    ChangeKind::Changed => '~',
                    ChangeKind::Removed => '-',
                };
                format!("{k}{}{}", c.path, if c.is_dir { "/" } else { "" })
            })
            .collect()
    }

    #[test]
    fn nothing_changed() {
        let t = tree(&[("a.py", Some(b"1")), ("lib", None), ("lib/x.py", Some(b""))]);
        assert!(changes(&t, &t).is_empty());
        assert!(changes(&Tree::new(), &Tree::new()).is_empty());
    }

    #[test]
    fn added_changed_removed_in_an_order_that_applies() {
        let before = tree(&[
            ("boot.py", Some(b"b")),
            ("main.py", Some(b"m")),
            ("old", None),
            ("old/a.txt", Some(b"a")),
            ("old/sub", None),
            ("old/sub/z", Some(b"z")),
            ("same.py", Some(b"s")),
        ]);
        let after = tree(&[
            ("boot.py", Some(b"b")),
            ("main.py", Some(b"m2")),
            ("new", None),
            ("new/deep", None),
            ("new/deep/f.bin", Some(b"\0")),
            ("same.py", Some(b"s")),
            ("log.txt", Some(b"")),
        ]);
        assert_eq!(
            show(&changes(&before, &after)),
            [
                "-old/sub/z",
                "-old/sub/",
                "-old/a.txt",
                "-old/",
                "+log.txt",
                "~main.py",
                "+new/",
                "+new/deep/",
                "+new/deep/f.bin",
            ]
        );
    }

    #[test]
    fn a_file_that_became_a_directory() {
        let before = tree(&[("x", Some(b"1")), ("y", None), ("y/in", Some(b"2"))]);
        let after = tree(&[("x", None), ("x/in", Some(b"3")), ("y", Some(b"4"))]);
        assert_eq!(
            show(&changes(&before, &after)),
            ["-y/in", "-y/", "-x", "+x/", "+x/in", "+y"]
        );
    }

    #[test]
    fn an_empty_file_differs_from_a_missing_one() {
        let before = tree(&[]);
        let after = tree(&[("e", Some(b""))]);
        assert_eq!(show(&changes(&before, &after)), ["+e"]);
        assert_eq!(show(&changes(&after, &before)), ["-e"]);
    }

    #[test]
    fn host_tree_reads_a_directory_and_matches_the_image_built_from_it() {
        let d = std::env::temp_dir().join(format!("pybsim-fsimage-sync-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("lib/empty")).unwrap();
        fs::write(d.join("main.py"), b"print(1)\n").unwrap();
        fs::write(d.join("lib/u.py"), b"U = 2\n").unwrap();
        let host = host_tree(&d).unwrap();
        assert_eq!(
            host,
            tree(&[
                ("lib", None),
                ("lib/empty", None),
                ("lib/u.py", Some(b"U = 2\n")),
                ("main.py", Some(b"print(1)\n")),
            ])
        );
        // The flash made from the directory shows no change; the guest's edits do.
        let mut bytes = crate::FlashImage::fresh("x").unwrap().into_bytes();
        bytes[crate::FS_OFFSET..crate::FS_END].copy_from_slice(&crate::build_image(&d).unwrap());
        let mut img = crate::FlashImage::from_bytes(Path::new("t.img"), bytes).unwrap();
        assert!(changes(&host, &img.tree().unwrap()).is_empty());
        img.put("data.csv", b"1,2\n").unwrap();
        img.put("main.py", b"print(2)\n").unwrap();
        img.remove("lib", true).unwrap();
        assert_eq!(
            show(&changes(&host, &img.tree().unwrap())),
            ["-lib/u.py", "-lib/empty/", "-lib/", "+data.csv", "~main.py"]
        );
        assert!(matches!(
            host_tree(&d.join("nope")),
            Err(FsImageError::DirectoryMissing { .. })
        ));
        let _ = fs::remove_dir_all(&d);
    }
}
