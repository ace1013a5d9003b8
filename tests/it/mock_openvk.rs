//! Tests: mock_openvk.
