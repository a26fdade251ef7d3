"""The fleet: the same stages on many hosts, through Ansible, gated as one.

- cli.py: `reliability fleet provision|run`, and provision/run/stop as functions;
- ansible.py: one playbook through ansible-runner, with per-host outcomes and leftovers ended;
- junit.py: each host's fate in the play as a JUnit suite (an unreachable host is an error);
- wheelhouse.py: the pipeline and its dependencies as wheels, built once for every host;
- ssh.py: strict host-key checking against one known_hosts file (`--known-hosts`);
- merge.py: reports/<host>/ layout and every host's suites merged into one JUnit file;
- playbooks/: provision.yml, reliability.yml, stop.yml and inventories, shipped in the wheel.

Kept free of imports so that the gate can read merge.py without loading Ansible's driver.
"""
