//! The ILP side of the wire: the packets this plugin reads and writes (RFC 27, OER) and
//! ILDCP (RFC 31). Plain functions over bytes; nothing here knows about HTTP.

pub mod ildcp;
pub mod packet;

#[cfg(test)]
mod vectors;
