@cluster
Feature: The cluster as built
  Lab chapter "The cluster as built" (seed lines 443-869).

  Before trying any Cilium feature, the student checks what `vagrant up` built: three
  nodes joined by kubeadm with the kube-proxy addon skipped, and Cilium 1.17.6 installed
  by Helm with kube-proxy replacement, native routing, eBPF masquerading and Cilium's own
  cluster-pool IPAM. The student runs these on k8s-ctr (`vagrant ssh k8s-ctr`):

    kubectl get node -owide
    kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.podCIDR}{"\n"}{end}'
    kubectl get ciliumnode -o json | grep podCIDRs -A2
    kubectl get pod -A -owide
    cilium status
    cilium config view
    iptables -t nat -S ; iptables -t filter -S ; iptables -t mangle -S

  These facts were true before Hubble was enabled and must still be true after it, so the
  suite checks them on the lab with Hubble enabled, like every other chapter.

  Background:
    Given the lab has Hubble enabled

  @nodes
  Scenario Outline: <node> is Ready at <address> with the pinned kubelet and containerd
    `kubectl get node -owide` shows STATUS Ready, VERSION v1.33.2, the INTERNAL-IP and
    CONTAINER-RUNTIME containerd://1.7.27. (The seed also shows the address as kubelet's
    --node-ip in /var/lib/kubelet/kubeadm-flags.env, seed 605-613; the suite reads the
    Node object, where `kubectl get node -owide` reads these columns, not that file.)
    Addresses and versions are the ones the lab
    pins (by default the documented lab's; docs/real-lab.md says how to change them).
    Then node "<node>" is Ready
    And node "<node>" has the InternalIP the lab assigns it (<address> by default)
    And node "<node>" runs the kubelet of the lab's pinned Kubernetes version
    And node "<node>" runs the lab's pinned containerd version

    Examples:
      | node    | address        |
      | k8s-ctr | 192.168.10.100 |
      | k8s-w1  | 192.168.10.101 |
      | k8s-w2  | 192.168.10.102 |

  @nodes
  Scenario: The cluster is the lab's nodes, every one of them Ready
    The student's own command on k8s-ctr lists the nodes (seed 599-603); its NAME column
    holds the lab's three nodes, no more and no fewer, and each STATUS is Ready:
      kubectl get node -owide
    Then the nodes of the cluster are exactly the lab's nodes
    And every node of the cluster is Ready

  @kube_proxy_free
  Scenario: Cilium replaces kube-proxy
    kubeadm init skipped the kube-proxy addon (kubeadm-config shows `proxy: disabled: true`)
    and Cilium was installed with kubeProxyReplacement=true: Services are handled in eBPF,
    so no node has the iptables chains kube-proxy would have written.
      cilium config view | grep kube-proxy-replacement
    Beyond the write-up, which reads the chains in `iptables -t nat -S` (seed 660-703):
      kubectl get ds -n kube-system
      iptables-save | grep -E 'KUBE-(SERVICES|SVC-)'
    Then there is no DaemonSet "kube-proxy" in "kube-system"
    And no node has kube-proxy's KUBE-SERVICES or KUBE-SVC-* iptables chains
    And the ConfigMap "cilium-config" in "kube-system" has kube-proxy-replacement "true"

  @kube_proxy_free @ipam
  Scenario: Every agent's cilium-dbg status shows kube-proxy replacement on the node's address and IPAM from its pod CIDR
    The agent's own status (seed 715, 784-785; `kubectl exec -n kube-system ds/cilium -c
    cilium-agent -- cilium-dbg status`) shows what the configuration asked for:
      KubeProxyReplacement:   True   [eth0 10.0.2.15, eth1 192.168.10.100 (Direct Routing)]
      IPAM:                   IPv4: 3/254 allocated from 172.20.0.0/24
    Kube-proxy replacement is on; of the devices it serves (eth0 is VirtualBox's NAT
    interface, the same 10.0.2.15 on every node), the one that carries the node's
    InternalIP (eth1, 192.168.10.100 on k8s-ctr) is the direct-routing device that native
    routing sends pod traffic through; and the agent hands out pod addresses from its
    node's Cilium pod CIDR (3 of the /24's 254 in use on k8s-ctr: the router and two CoreDNS
    pods). The write-up asks one agent (`ds/cilium`); the suite asks every node's agent, and
    checks the device's address and the CIDR against the node, not the interface names or
    the count of the moment.
    When I run "cilium-dbg status" in the Cilium agent of every node
    Then every agent's KubeProxyReplacement is True, with its node's InternalIP on the Direct Routing device
    And every agent allocates pod IPv4 addresses from its node's Cilium pod CIDR

  @routing
  Scenario: cilium-config asks for native routing between the nodes and eBPF masquerading
    The nodes share one L2 segment, so pod packets can travel unencapsulated, each node
    routing the other nodes' pod CIDRs itself, and traffic leaving 172.20.0.0/16 can be
    masqueraded by eBPF instead of iptables. What the student reads, and the suite with
    them, is the configuration that asks for this (seed 760-773); neither reads the nodes'
    routes nor follows a packet here:
      cilium config view
    When I read the ConfigMap "cilium-config" in "kube-system"
    Then it has these entries:
      | key                      | value         |
      | routing-mode             | native        |
      | ipv4-native-routing-cidr | 172.20.0.0/16 |
      | auto-direct-node-routes  | true          |
      | enable-bpf-masquerade    | true          |

  @ipam
  Scenario: Cilium hands out pod addresses from its own cluster pool
      cilium config view | grep -E '^ipam|cluster-pool'
    When I read the ConfigMap "cilium-config" in "kube-system"
    Then it has these entries:
      | key                         | value         |
      | ipam                        | cluster-pool  |
      | cluster-pool-ipv4-cidr      | 172.20.0.0/16 |
      | cluster-pool-ipv4-mask-size | 24            |

  @ipam
  Scenario: Each node has its own /24 of 172.20.0.0/16 and its pods take their IPs from it
    kubeadm gave each node a podCIDR from 10.244.0.0/16 (10.244.0.0/24 for k8s-ctr), but
    Cilium's cluster-pool IPAM does not use it: the operator gives each node its own /24
    of 172.20.0.0/16 in its CiliumNode (172.20.0.0/24 for k8s-ctr), and the CoreDNS pods
    on k8s-ctr got 172.20.0.51 and 172.20.0.107. Host-network pods (the Cilium agents,
    etcd, the API server) keep their node's IP.
      kubectl get ciliumnode -o json | grep podCIDRs -A2
      kubectl get pod -A -owide
    Then every node has a Cilium pod CIDR of its own, a /24 inside 172.20.0.0/16
    And every pod that is not in the host network has an IP from its node's Cilium pod CIDR
    And no pod has an IP from its node's kubeadm podCIDR

  @l7_proxy
  Scenario: Cilium's L7 proxy is on, and runs as a separate Envoy
    `cilium config view` shows enable-l7-proxy true and external-envoy-proxy true
    (seed 771-773): L7 policies work out of the box, and the Envoy that enforces them runs
    in the cilium-envoy DaemonSet rather than inside the agent (its metrics port 9964 is
    open on every node before Hubble already, seed 992: the Hubble chapter's "Before the
    upgrade, Hubble was off" checks that).
      cilium config view | grep -E 'l7-proxy|envoy'
    When I read the ConfigMap "cilium-config" in "kube-system"
    Then cilium-config turns the L7 proxy on and runs it as a separate Envoy

  @workloads
  Scenario Outline: The <daemonset> DaemonSet has a ready pod on every node
    `cilium status` shows "DaemonSet <daemonset> Desired: 3, Ready: 3/3": one pod per node.
    Then the DaemonSet "<daemonset>" in "kube-system" is scheduled and ready on every node of the cluster

    Examples:
      | daemonset    |
      | cilium       |
      | cilium-envoy |

  @workloads
  Scenario: One cilium-operator replica is ready
    The lab installs a single operator (operator.replicas=1); `cilium status` shows
    "Deployment cilium-operator Desired: 1, Ready: 1/1".
    Then the Deployment "cilium-operator" in "kube-system" has 1/1 replicas ready

  @iptables
  Scenario Outline: Cilium's chains are in the <table> table of every node
    Cilium keeps a few iptables chains of its own (for the L7 proxy and DNS proxy marks and
    for traffic eBPF hands back to the stack), each fed by a rule of a built-in chain that
    the agent marks with a comment, "cilium-feeder:" and the chain's name (seed 660-703):
      iptables -t <table> -S
      -A PREROUTING -m comment --comment "cilium-feeder: CILIUM_PRE_nat" -j CILIUM_PRE_nat
    Then on every node the <table> table has the chains <chains>, each fed by a cilium-feeder rule of a built-in chain

    Examples:
      | table  | chains                                             |
      | filter | CILIUM_INPUT, CILIUM_OUTPUT, CILIUM_FORWARD        |
      | nat    | CILIUM_PRE_nat, CILIUM_POST_nat, CILIUM_OUTPUT_nat |
      | mangle | CILIUM_PRE_mangle, CILIUM_POST_mangle              |
