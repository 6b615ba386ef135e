@export
Feature: Flows are exported to a file on every node
  Lab chapter "Hubble Exporter" (seed lines 2240-2397).

  Besides serving flows to Relay, each Cilium agent can write every flow it observes to a
  file on its node, one JSON event per line, for log shippers (Fluentd, Logstash, a SIEM)
  to collect. The lab turned the static exporter on with the Hubble upgrade:

    helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values \
      --set hubble.enabled=true \
      --set hubble.export.static.enabled=true \
      --set hubble.export.static.filePath=/var/run/cilium/hubble/events.log

  and the student checks the configuration and watches the file fill up:

    kubectl get cm -n kube-system cilium-config -o json | grep hubble-export
    cilium config view | grep hubble-export
    kubectl -n kube-system exec ds/cilium -- tail -f /var/run/cilium/hubble/events.log

  The file rotates at 10 MB and keeps 5 backups; empty allow and deny lists export every
  flow, and an empty field mask keeps every field. The suite makes a request of its own
  (curl-pod to webpod, seed lines 2398-2533) and finds that very request in the files of
  the nodes it went through.

  Background:
    Given the lab has Hubble enabled

  @config
  Scenario: The agent configuration exports every flow, unfiltered, to events.log
    The same keys the student greps for in cilium-config:
      kubectl get cm -n kube-system cilium-config -o json | grep hubble-export
    When I read the ConfigMap "cilium-config" in "kube-system"
    Then it has these entries:
      | key                            | value                             |
      | hubble-export-file-path        | /var/run/cilium/hubble/events.log |
      | hubble-export-file-max-size-mb | 10                                |
      | hubble-export-file-max-backups | 5                                 |
      | hubble-export-allowlist        |                                   |
      | hubble-export-denylist         |                                   |
      | hubble-export-fieldmask        |                                   |

  Scenario: Every node keeps its export file within the rotation limits
    The files the agent writes (the suite asks the agent pod of each node in turn), beyond
    the write-up, which only tails events.log:
      kubectl -n kube-system exec ds/cilium -c cilium-agent -- ls -l /var/run/cilium/hubble/
    Then on every node the export directory holds events.log of at most 10 MB and at most 5 rotated backups

  Scenario Outline: The <side>'s node writes the request's flows to its export file
    curl-pod runs on k8s-ctr and whoami answers from a webpod on a worker (kubeadm's control
    plane taint keeps webpod off k8s-ctr), so a request crosses two nodes, and both agents
    export what they saw of it. Each row reads the file in the agent pod of its side's node,
    the node the suite finds that pod on, not the one ds/cilium happens to pick; that the
    two nodes differ is the lab's placement, not a check of this scenario:
      kubectl exec curl-pod -- curl -s webpod | grep Hostname
      kubectl -n kube-system exec ds/cilium -- tail -f /var/run/cilium/hubble/events.log
    Given curl-pod and webpod are running in the scenario's namespace
    When curl-pod sends a marked request to the webpod Service
    Then a webpod answers it with HTTP 200
    And the export file on the node running the <side> holds JSON flow events of that node
    And among them are the request's flows from curl-pod to the webpod and back, each FORWARDED

    Examples:
      | side   |
      | client |
      | server |
