@redaction
Feature: URL query redaction in Hubble flows
  Lab chapter "Security implications" (seed lines 2905-3000).

  L7 visibility shows everything in a request, sensitive parts included: by default
  Hubble does not redact anything, so a query such as ?user_id=1234 ends up in every
  http-request and http-response flow. With redaction on, Hubble removes the query from
  the URLs it reports; the application still receives the request unchanged.

  The student watches the L7 flows while sending a request with a "sensitive" query:

    hubble observe -f -t l7
    kubectl exec -it curl-pod -- sh -c 'curl -s webpod/?user_id=1234'

  sees http://webpod/?user_id=1234 in the flows, turns redaction on (seed 2922-2923):

    helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values \
      --set extraArgs="{--hubble-redact-enabled,--hubble-redact-http-urlquery}"

  sends the same request again, and now sees http://webpod/ in the flows while whoami
  still echoes GET /?user_id=1234.

  Note: the suite gives the agents the same two settings through the chart's own values
  (hubble.redact.enabled, hubble.redact.http.urlQuery), which land in cilium-config as
  hubble-redact-enabled and hubble-redact-http-urlquery, keys anyone can read with
  `cilium config view | grep redact`; the flags of extraArgs would only show on the
  agents' command line. Turning redaction on restarts every agent, so the scenario has
  the cluster to itself and puts the lab back without redaction afterwards, also when a
  step fails (docs/architecture.md, "Stages and locks").

  @cluster_change @flows
  Scenario: Hubble stops showing URL queries once redaction is on
    The query shows in the flows, redaction goes on, the query is gone from the flows but
    still reaches whoami (seed 2913-2930).
    Given the lab has Hubble enabled and this scenario has the cluster to itself
    And webpod and curl-pod are running in my namespace
    And the l7-visibility policy is in place
    When curl-pod requests "http://webpod/" with its marker as "user_id"
    Then Hubble shows the http-request of the request with the query in its URL
    When Hubble redaction of URL queries is turned on
    And I read the ConfigMap "cilium-config" in "kube-system"
    Then it has these entries:
      | key                         | value |
      | hubble-redact-enabled       | true  |
      | hubble-redact-http-urlquery | true  |
    When every agent has realised the l7-visibility policy again
    And curl-pod requests "http://webpod/" with its marker as "user_id"
    Then whoami echoes the request line with the query it was sent
    And Hubble shows the http-request and http-response of the request with the URL "http://webpod/"

  @cluster_change @redaction_on @flows
  Scenario: With redaction on, Hubble shows the URL without its query
    The lab as the student leaves it after the chapter: redaction on (seed 2922-2923, the
    write-up's extraArgs). A lab found in that stage is checked as found, without any Helm
    change; on a lab the suite may change (its own lab, or --allow-helm-changes) redaction
    is switched on for this scenario and off again afterwards. The request with the
    "sensitive" query still reaches whoami unchanged, while Hubble shows http://webpod/
    (seed 2976-2999):
      kubectl exec -it curl-pod -- sh -c 'curl -s webpod/?user_id=1234'
      hubble observe -f -t l7
    Given Hubble redaction of URL queries is on, as found or switched on for this scenario
    And webpod and curl-pod are running in my namespace
    And the l7-visibility policy is in place
    When curl-pod requests "http://webpod/" with its marker as "user_id"
    Then whoami echoes the request line with the query it was sent
    And Hubble shows the http-request and http-response of the request with the URL "http://webpod/"
