//! urna's registry office server: it receives every station's events, verifies them with
//! `records`, keeps the register of incoming correspondence, notifies clerks and answers residents.
//!
//! Nothing is here yet: the server is built with the "`urna demo`" issue. The crate exists now so
//! that the workspace has its final shape and the registry never grows a dependency on `station`.
