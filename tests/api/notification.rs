//! OrganDonorNotification tests (being written).
