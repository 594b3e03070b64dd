/** A file-source config of `clusters` EDS clusters whose endpoints listen on `port`: change the port, change the content. */
export function fleetConfig(clusters: readonly string[], port: number): string {
  return JSON.stringify(
    {
      clusters: clusters.map((name) => ({
        name,
        type: "EDS",
        connectTimeout: "1s",
        edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } },
      })),
      endpoints: clusters.map((name) => ({
        clusterName: name,
        endpoints: [
          {
            locality: { zone: "a" },
            loadBalancingWeight: 1,
            lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "127.0.0.1", portValue: port } } } }],
          },
        ],
      })),
    },
    null,
    2,
  );
}
