@hubble
Feature: Hubble is enabled
  Lab chapter "Hubble" (seed lines 870-1365).

  Hubble is Cilium's flow observability layer. Before this chapter the lab runs with
  enable-hubble false: no Hubble secrets, nothing listening on 4244. The student then
  turns Hubble on with one Helm upgrade:

    helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values \
      --set hubble.enabled=true --set hubble.relay.enabled=true --set hubble.ui.enabled=true \
      --set hubble.ui.service.type=NodePort --set hubble.ui.service.nodePort=31234 \
      --set hubble.export.static.enabled=true \
      --set hubble.export.static.filePath=/var/run/cilium/hubble/events.log \
      --set prometheus.enabled=true --set operator.prometheus.enabled=true \
      --set hubble.metrics.enableOpenMetrics=true --set hubble.metrics.enabled="{dns,drop,...}"

  (the suite applies the same values as a Helm values file, once per run) and checks what
  changed: the agent configuration, the TLS secrets, the ports Hubble opened, Hubble
  Relay and the hubble-peer Service it reads from, the UI, and `hubble status`.

  Background:
    Given the lab has Hubble enabled

  @before
  Scenario: Before the upgrade, Hubble was off
    The seed's "before" check (seed 950-1008), taken just before the suite ran the Helm
    upgrade: `cilium status` shows "Hubble Relay: disabled" (seed 958), Envoy's metrics port
    9964 is open on every node and the operator's 9963 on the node of its one replica (seed
    992, 995), and neither Hubble's port 4244 nor Relay's 4245 is open (seed 997):
      cilium status
      cilium config view | grep -i hubble
      kubectl get secret -n kube-system | grep -iE 'cilium-ca|hubble'
      ss -tnlp | grep -iE 'cilium|hubble'
    The suite reads Relay's state where `cilium status` reads it, the hubble-relay
    Deployment in kube-system.
    Then the pre-Hubble snapshot shows enable-hubble "false"
    And the pre-Hubble snapshot shows Hubble Relay disabled
    And the pre-Hubble snapshot shows no Hubble secrets
    And the pre-Hubble snapshot shows no node listening on port 4244
    And the pre-Hubble snapshot shows no node listening on port 4245
    And the pre-Hubble snapshot shows Envoy's metrics port 9964 open on every node
    And the pre-Hubble snapshot shows the operator's metrics port 9963 open on one node

  Scenario: Cilium's own images run at the lab's pinned Cilium version
    After the upgrade `cilium status` (seed 1114-1120; before it seed 480-482) lists the
    image each component's pods run and how many pods run it:
      Image versions   cilium           quay.io/cilium/cilium:v1.17.6@sha256:544de3d4...: 3
                       cilium-envoy     quay.io/cilium/cilium-envoy:v1.33.4-1752151664-7c2edb0b...@sha256:318eff38...: 3
                       cilium-operator  quay.io/cilium/operator-generic:v1.17.6@sha256:91ac3bf7...: 1
                       hubble-relay     quay.io/cilium/hubble-relay:v1.17.6@sha256:7d17ec10...: 1
                       hubble-ui        quay.io/cilium/hubble-ui-backend:v0.13.2@sha256:a034b7e9...: 1
                       hubble-ui        quay.io/cilium/hubble-ui:v0.13.2@sha256:9e37c129...: 1
    The chart pins every image by tag and by digest. The images Cilium builds itself (the
    agent, the operator and Hubble Relay) carry the Cilium version the lab pins
    (CILIUM_VERSION in provisioning/versions.env, 1.17.6 by default); Envoy and the Hubble
    UI have versions of their own, which the chart picks. `cilium status` reads the images
    from the pods' specs; the suite lists the pods of kube-system
    (`kubectl get pod -n kube-system -o jsonpath='{..image}'`) and reads the same.
    When I list the images the pods of kube-system run
    Then the cilium, operator-generic and hubble-relay images run at the lab's pinned Cilium version, pinned by digest
    And the cilium-envoy, hubble-ui-backend and hubble-ui images run too, pinned by digest

  @config
  Scenario: The agent configuration turns Hubble on
    What the student reads with:
      cilium config view | grep -i hubble
      kubectl get cm -n kube-system cilium-config -o json
    When I read the ConfigMap "cilium-config" in "kube-system"
    Then it has these entries:
      | key                        | value                             |
      | enable-hubble              | true                              |
      | hubble-listen-address      | :4244                             |
      | hubble-metrics-server      | :9965                             |
      | enable-hubble-open-metrics | true                              |
      | hubble-export-file-path    | /var/run/cilium/hubble/events.log |

  @secrets
  Scenario: The chart created the Hubble TLS secrets
    Hubble's gRPC API (4244) and Relay use mutual TLS; Helm generates a CA and certificates:
      kubectl get secret -n kube-system | grep -iE 'cilium-ca|hubble'
    Then these Secrets exist in "kube-system":
      | name                      | type              |
      | cilium-ca                 | Opaque            |
      | hubble-relay-client-certs | kubernetes.io/tls |
      | hubble-server-certs       | kubernetes.io/tls |

  @ports
  Scenario Outline: <component> listens on port <port>
    Compare the listening sockets on each node (seed: ss -tnlp | grep -iE 'cilium|hubble',
    and on the workers: sshpass -p vagrant ssh vagrant@k8s-w1 sudo ss -tnlp | grep 4244).
    4244 and 9965 came with Hubble, 9962 with prometheus.enabled in the same upgrade; 9963,
    the operator's metrics, was open before Hubble already (seed 995, checked by "Before the
    upgrade, Hubble was off") and only on the node that runs the single operator replica.
    Then port <port> is listened on by "<process>" on <where>

    Examples:
      | component                  | port | process         | where                         |
      | Hubble server (gRPC API)   | 4244 | cilium-agent    | every node                    |
      | Cilium agent metrics       | 9962 | cilium-agent    | every node                    |
      | Hubble metrics             | 9965 | cilium-agent    | every node                    |
      | Cilium operator metrics    | 9963 | cilium-operator | the node running the operator |

  @relay
  Scenario: Hubble Relay serves the cluster-wide flow API
    Relay aggregates every node's Hubble server; it finds them through the hubble-peer Service:
      kubectl get pod -n kube-system -l k8s-app=hubble-relay
      kubectl get svc,ep -n kube-system hubble-relay
      kubectl describe cm -n kube-system hubble-relay-config
    Then the Deployment "hubble-relay" in "kube-system" is ready
    And the Service "hubble-relay" in "kube-system" sends port 80 to pod port 4245
    And the relay configuration has peer-service "hubble-peer.kube-system.svc.cluster.local.:443" and listen-address ":4245"

  @peer
  Scenario: hubble-peer points at every node's Hubble server
    The agent runs in the host network, so the peer endpoints are the nodes' own IPs:
      kubectl get svc,ep -n kube-system hubble-peer
    Then the Service "hubble-peer" in "kube-system" sends port 443 to pod port 4244
    And the endpoints of "hubble-peer" are exactly every node's InternalIP on port 4244

  @ui
  Scenario: Hubble UI is published on NodePort 31234
    The UI's nginx frontend listens on 8081 and its backend reads flows from Relay:
      kubectl get svc,ep -n kube-system hubble-ui
      kubectl describe pod -n kube-system -l k8s-app=hubble-ui
      open http://192.168.10.100:31234 in a browser
    Then the Service "hubble-ui" in "kube-system" is a NodePort on 31234 to pod port 8081
    And the "backend" container of Deployment "hubble-ui" has FLOWS_API_ADDR "hubble-relay:80"
    And an HTTP GET of port 31234 on a node returns the Hubble UI page

  @status
  Scenario: hubble status through Relay sees every node
    The seed runs `cilium hubble port-forward &` and then `hubble status` (seed 1288-1298):
      Healthcheck (via localhost:4245): Ok
      Connected Nodes: 3/3
    This scenario asks Relay through its Service instead, from the hubble CLI inside an
    agent pod (`kubectl exec -n kube-system <cilium pod> -c cilium-agent -- hubble status
    --server <hubble-relay ClusterIP>:80`), so it needs no port-forward; the Hubble CLI
    chapter runs the seed's own port-forward and `hubble status` on k8s-ctr.
    When I run hubble status through Hubble Relay
    Then the health check is Ok
    And every node of the cluster is connected
