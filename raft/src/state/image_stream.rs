//! The snapshot image written straight into a file, and read back without copying its rows.
//!
//! Why: building the image as a value first ([`Image::of`]: a vector of owned key and value
//! buffers per row, then its encoding, then the file's encoding around that) held two to three
//! copies of the state's encoded size at once, plus an allocation per row. At 100,000 users
//! that was a transient peak of tens of MiB on every replica, all replicas snapshotting at
//! about the same time, and most of the CPU of an encode. [`HubState::write_image`] walks the
//! tables once and writes each row as it is encoded, through one reused buffer, and
//! [`ImageRef`] decodes rows as slices of the file's bytes.
//!
//! The bytes are the same MessagePack as `rmp_serde::to_vec_named(&Image::of(state))`, except
//! that the row count is an `array32` header patched in at the end (any MessagePack reader
//! takes it), so old and new images read with the same decoder.

use std::io::{self, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};

use super::image::*;
use super::HubState;

/// A decoded image whose rows borrow the encoded bytes.
#[derive(Debug, Deserialize)]
pub struct ImageRef<'a> {
    #[serde(borrow)]
    pub rows: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> ImageRef<'a> {
    pub fn decode(bytes: &'a [u8]) -> Result<ImageRef<'a>, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }

    pub fn into_state(self) -> Result<HubState, DecodeError> {
        HubState::from_rows(self.rows)
    }
}

/// Writes rows through one reused value buffer.
struct RowWriter<'w, W: Write> {
    w: &'w mut W,
    value: Vec<u8>,
    rows: u64,
}

impl<W: Write> RowWriter<'_, W> {
    fn row<T: Serialize + ?Sized>(&mut self, prefix: u8, rest: &[u8], v: &T) -> io::Result<()> {
        self.value.clear();
        rmp_serde::encode::write_named(&mut self.value, v).map_err(io::Error::other)?;
        let key_len = u32::try_from(1 + rest.len()).map_err(io::Error::other)?;
        let value_len = u32::try_from(self.value.len()).map_err(io::Error::other)?;
        rmp::encode::write_array_len(self.w, 2)?;
        rmp::encode::write_bin_len(self.w, key_len)?;
        self.w.write_all(&[prefix])?;
        self.w.write_all(rest)?;
        rmp::encode::write_bin_len(self.w, value_len)?;
        self.w.write_all(&self.value)?;
        self.rows += 1;
        Ok(())
    }
}

impl HubState {
    /// Writes this state's image (the MessagePack of an [`Image`]) to `w` at its current
    /// position and returns the number of rows. Rows come in the same order as
    /// [`HubState::all_rows`].
    pub fn write_image<W: Write + Seek>(&self, w: &mut W) -> io::Result<u64> {
        rmp::encode::write_map_len(w, 1)?;
        rmp::encode::write_str(w, "rows")?;
        // array32 with the count patched in at the end.
        w.write_all(&[0xdd, 0, 0, 0, 0])?;
        let count_at = w.stream_position()? - 4;
        let mut r = RowWriter {
            w,
            value: Vec::with_capacity(4096),
            rows: 0,
        };
        r.row(
            P_META,
            &[],
            &Meta {
                last_applied: self.last_applied,
                membership: self.membership.clone(),
            },
        )?;
        r.row(P_COUNTERS, &[], &self.counters)?;
        if let Some(c) = &self.config {
            r.row(P_CONFIG, &[], c)?;
        }
        for (id, u) in self.users.iter() {
            r.row(P_USER, &id.to_be_bytes(), u)?;
        }
        for (id, g) in self.groups.iter() {
            r.row(P_GROUP, &id.to_be_bytes(), g)?;
        }
        for (n, x) in self.roles.iter() {
            r.row(P_ROLE, n.as_bytes(), x)?;
        }
        for (n, x) in self.services.iter() {
            r.row(P_SERVICE, n.as_bytes(), x)?;
        }
        for (id, t) in self.tokens.iter() {
            r.row(P_TOKEN, &id.to_be_bytes(), t)?;
        }
        for (n, c) in self.oauth_clients.iter() {
            r.row(P_CLIENT, n.as_bytes(), c)?;
        }
        for (n, c) in self.oauth_codes.iter() {
            r.row(P_CODE, n.as_bytes(), c)?;
        }
        for (n, x) in self.routes.iter() {
            r.row(P_ROUTE, n.as_bytes(), x)?;
        }
        for b in self.dedup.buckets() {
            if let Some(bucket) = self.dedup.bucket(b) {
                r.row(P_DEDUP, &b.to_be_bytes(), &bucket)?;
            }
        }
        let rows = r.rows;
        let count = u32::try_from(rows).map_err(io::Error::other)?;
        let end = w.stream_position()?;
        w.seek(SeekFrom::Start(count_at))?;
        w.write_all(&count.to_be_bytes())?;
        w.seek(SeekFrom::Start(end))?;
        Ok(rows)
    }
}
