"""The simulated cluster: an HTTP server on loopback that speaks the Kubernetes REST API for the
kinds the action catalogue touches, loaded from ordinary manifests (docs/sim.md says exactly
what it covers). ``reconciler test``, ``reconciler run --cluster sim:PATH`` and the project's
Kubernetes tests reach it through the official client."""
