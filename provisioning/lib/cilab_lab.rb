# frozen_string_literal: true
#
# Helpers for provisioning/Vagrantfile, kept in plain Ruby (no Vagrant API) so that
# tools/static_checks.sh and tests/unit/test_provisioning.py can run them with `ruby`.
#
#   CilabLab.read_versions(path, env)  -> {"KEY" => "value"} from versions.env + overrides
#   CilabLab::Secrets.ensure(dir, ...)   -> the per-lab bootstrap token and cluster CA
#
# The parsing and validation rules are the same as cilab/versions.py; the unit tests
# compare the two.

require "fileutils"
require "ipaddr"
require "json"
require "openssl"
require "securerandom"

module CilabLab
  class ConfigError < StandardError; end

  LINE = /\A([A-Z][A-Z0-9_]*)=\$\{([A-Z][A-Z0-9_]*):-([^\s}"'$`\\]*)\}\z/.freeze
  SEMVER = /\A[0-9]+\.[0-9]+\.[0-9]+\z/.freeze
  SEMVER_FORM = "X.Y.Z with digits only, no leading 'v' (e.g. %s)"
  SHA256 = /\A([0-9a-f]{64})?\z/.freeze
  SHA_FORM = "64 lower-case hex digits, or empty for no pin"
  BOX = /\A[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+\z/.freeze
  BOX_VERSION = /\A[0-9]+(\.[0-9]+)*\z/.freeze
  PKG_REVISION = /\A[0-9][0-9A-Za-z.+~]*\z/.freeze
  WORKER_IP_BASE = 100
  MAX_WORKERS = 20

  def self.int_between(low, high)
    ->(v) { v.match?(/\A[0-9]+\z/) && v.to_i.between?(low, high) }
  end

  def self.ipv4_net?(value)
    return false unless value.include?("/")

    addr, bits = value.split("/", 2)
    return false unless bits.match?(/\A[0-9]{1,2}\z/) && bits.to_i <= 32

    net = IPAddr.new(value)
    net.ipv4? && net.to_s == addr
  rescue IPAddr::Error
    false
  end

  def self.ipv4_addr?(value)
    value.match?(/\A[0-9]{1,3}(\.[0-9]{1,3}){3}\z/) && IPAddr.new(value).ipv4?
  rescue IPAddr::Error
    false
  end

  # KEY => [check, expected form]; mirrors cilab/versions.py _RULES.
  RULES = {
    "KUBERNETES_VERSION" => [SEMVER, format(SEMVER_FORM, "1.33.2")],
    "KUBERNETES_PKG_REVISION" => [PKG_REVISION, "a Debian revision such as 1.1"],
    "CONTAINERD_VERSION" => [SEMVER, format(SEMVER_FORM, "1.7.27")],
    "CONTAINERD_PKG_REVISION" => [PKG_REVISION, "a Debian revision such as 1 or 1~ubuntu.24.04~noble"],
    "PAUSE_IMAGE" => [/\A[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+:[A-Za-z0-9._-]+\z/,
                      "registry/repository:tag (e.g. registry.k8s.io/pause:3.10)"],
    "CILIUM_VERSION" => [/\A[0-9]+\.[0-9]+\.[0-9]+(-(pre|rc)\.[0-9]+)?\z/,
                         "a chart version X.Y.Z or X.Y.Z-rc.N / -pre.N, no leading 'v' (e.g. 1.17.6)"],
    "CILIUM_CLI_VERSION" => [SEMVER, format(SEMVER_FORM, "0.18.6")],
    "HUBBLE_CLI_VERSION" => [SEMVER, format(SEMVER_FORM, "1.17.5")],
    "HELM_VERSION" => [SEMVER, format(SEMVER_FORM, "3.18.4")],
    "HELM_SHA256_AMD64" => [SHA256, SHA_FORM],
    "HELM_SHA256_ARM64" => [SHA256, SHA_FORM],
    "CILIUM_CLI_SHA256_AMD64" => [SHA256, SHA_FORM],
    "CILIUM_CLI_SHA256_ARM64" => [SHA256, SHA_FORM],
    "HUBBLE_CLI_SHA256_AMD64" => [SHA256, SHA_FORM],
    "HUBBLE_CLI_SHA256_ARM64" => [SHA256, SHA_FORM],
    "BOX_VIRTUALBOX" => [BOX, "owner/name (e.g. bento/ubuntu-24.04)"],
    "BOX_VERSION_VIRTUALBOX" => [BOX_VERSION, "a box release such as 202502.21.0"],
    "BOX_LIBVIRT" => [BOX, "owner/name (e.g. bento/ubuntu-24.04)"],
    "BOX_VERSION_LIBVIRT" => [BOX_VERSION, "a box release such as 202510.26.0"],
    "WORKER_COUNT" => [int_between(1, MAX_WORKERS), "an integer from 1 to #{MAX_WORKERS}"],
    "NODE_IP_PREFIX" => [->(v) { v.match?(/\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\z/) && v.split(".").all? { |o| o.to_i <= 255 } },
                         "three IPv4 octets (e.g. 192.168.10)"],
    "CTR_IP" => [->(v) { ipv4_addr?(v) }, "an IPv4 address (e.g. 192.168.10.100)"],
    "CTR_CPUS" => [int_between(1, 64), "an integer from 1 to 64"],
    "CTR_MEMORY_MB" => [int_between(1024, 65_536), "an integer number of MB from 1024 to 65536"],
    "WORKER_CPUS" => [int_between(1, 64), "an integer from 1 to 64"],
    "WORKER_MEMORY_MB" => [int_between(512, 65_536), "an integer number of MB from 512 to 65536"],
    "POD_CIDR" => [->(v) { ipv4_net?(v) }, "an IPv4 network in CIDR form (e.g. 10.244.0.0/16)"],
    "SERVICE_CIDR" => [->(v) { ipv4_net?(v) }, "an IPv4 network in CIDR form (e.g. 10.96.0.0/16)"],
    "CILIUM_POD_CIDR" => [->(v) { ipv4_net?(v) }, "an IPv4 network in CIDR form (e.g. 172.20.0.0/16)"],
    "BOOTSTRAP_TOKEN_TTL" => [->(v) { v.match?(/\A([0-9]+(h|m|s))+\z/) && v.match?(/[1-9]/) },
                              "a non-zero Go duration such as 2h or 90m"],
    "TIMEZONE" => [/\A([A-Za-z_+-]+(\/[A-Za-z0-9_+-]+)*)?\z/, "an IANA zone such as Asia/Seoul, or empty"],
  }.freeze

  # Defaults of versions.env in file order (no overrides).
  def self.read_defaults(path)
    defaults = {}
    File.readlines(path, chomp: true).each_with_index do |raw, index|
      line = raw.strip
      next if line.empty? || line.start_with?("#")

      m = LINE.match(line)
      if m.nil? || m[1] != m[2]
        raise ConfigError, "#{path}:#{index + 1}: expected KEY=${KEY:-value}, got #{line.inspect}"
      end
      raise ConfigError, "#{path}:#{index + 1}: #{m[1]} is defined twice" if defaults.key?(m[1])

      defaults[m[1]] = m[3]
    end
    defaults
  end

  # versions.env with environment overrides (an empty variable counts as unset), validated.
  def self.read_versions(path, env = ENV)
    defaults = read_defaults(path)
    unknown = defaults.keys - RULES.keys
    missing = RULES.keys - defaults.keys
    unless unknown.empty? && missing.empty?
      raise ConfigError, "#{path}: keys do not match the rules (unknown: #{unknown.join(', ')}; missing: #{missing.join(', ')})"
    end

    values = {}
    origin = {}
    defaults.each do |key, default|
      override = env[key].to_s
      values[key] = override.empty? ? default : override
      origin[key] = override.empty? ? File.basename(path) : "environment"
    end
    values.each do |key, value|
      check, form = RULES.fetch(key)
      ok = check.is_a?(Regexp) ? check.match?(value) : check.call(value)
      raise ConfigError, "#{key}=#{value.inspect} (from #{origin[key]}) is malformed: expected #{form}" unless ok
    end
    check_addresses(values, origin)
    values
  end

  def self.check_addresses(values, origin)
    prefix = values["NODE_IP_PREFIX"]
    ctr = values["CTR_IP"]
    octet = ctr.split(".").last.to_i
    unless ctr.split(".")[0, 3].join(".") == prefix && octet.between?(2, 254)
      raise ConfigError, "CTR_IP=#{ctr.inspect} (from #{origin['CTR_IP']}) is malformed: " \
                         "expected an address #{prefix}.2 to #{prefix}.254 inside NODE_IP_PREFIX"
    end
    first = WORKER_IP_BASE + 1
    last = WORKER_IP_BASE + values["WORKER_COUNT"].to_i
    if octet.between?(first, last)
      raise ConfigError, "CTR_IP=#{ctr.inspect} (from #{origin['CTR_IP']}) is malformed: " \
                         "expected an address outside the worker range #{prefix}.#{first}-#{last}"
    end
    nets = {
      "POD_CIDR" => IPAddr.new(values["POD_CIDR"]),
      "SERVICE_CIDR" => IPAddr.new(values["SERVICE_CIDR"]),
      "CILIUM_POD_CIDR" => IPAddr.new(values["CILIUM_POD_CIDR"]),
      "NODE_IP_PREFIX" => IPAddr.new("#{prefix}.0/24"),
    }
    nets.keys.combination(2).each do |a, b|
      next unless nets[a].include?(nets[b].to_range.first) || nets[b].include?(nets[a].to_range.first)

      bad, other = origin[a] == "environment" && origin[b] != "environment" ? [a, b] : [b, a]
      raise ConfigError, "#{bad}=#{values[bad].inspect} (from #{origin[bad]}) is malformed: " \
                         "expected a range that does not overlap #{other}=#{values[other]}"
    end
  end

  # [{name:, ip:, cpus:, memory:, control_plane:}], control plane first.
  def self.nodes(values)
    prefix = values["NODE_IP_PREFIX"]
    list = [{ name: "k8s-ctr", ip: values["CTR_IP"], cpus: values["CTR_CPUS"].to_i,
              memory: values["CTR_MEMORY_MB"].to_i, control_plane: true }]
    (1..values["WORKER_COUNT"].to_i).each do |i|
      list << { name: "k8s-w#{i}", ip: "#{prefix}.#{WORKER_IP_BASE + i}",
                cpus: values["WORKER_CPUS"].to_i, memory: values["WORKER_MEMORY_MB"].to_i,
                control_plane: false }
    end
    list
  end

  # Per-lab secrets kept on the host, under the Vagrant dotfile directory:
  #   bootstrap-token  kubeadm bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}, fresh per lab
  #   ca.crt, ca.key   the cluster CA (RSA-2048, CN=kubernetes, 10 years), placed in
  #                    /etc/kubernetes/pki on k8s-ctr before `kubeadm init`, which then
  #                    uses it instead of generating one
  # Because the CA exists before the cluster does, its public-key hash (what kubeadm join
  # pins with caCertHashes) is known up front and can be handed to the workers without
  # any channel back from the control plane.  The directory is removed when k8s-ctr is
  # destroyed (a trigger in the Vagrantfile), so the next lab gets new ones.
  class Secrets
    TOKEN_ALPHABET = ("a".."z").to_a + ("0".."9").to_a
    CA_DAYS = 3650

    attr_reader :dir, :token, :ca_crt_path, :ca_key_path, :ca_cert_hash

    def self.ensure(dir)
      new(dir).tap(&:ensure!)
    end

    def initialize(dir)
      @dir = dir
      @token_path = File.join(dir, "bootstrap-token")
      @ca_crt_path = File.join(dir, "ca.crt")
      @ca_key_path = File.join(dir, "ca.key")
    end

    def ensure!
      FileUtils.mkdir_p(@dir, mode: 0o700)
      File.chmod(0o700, @dir)
      write_private(@token_path, "#{random_token}\n") unless File.exist?(@token_path)
      generate_ca unless File.exist?(@ca_crt_path) && File.exist?(@ca_key_path)
      @token = File.read(@token_path).strip
      unless @token.match?(/\A[a-z0-9]{6}\.[a-z0-9]{16}\z/)
        raise ConfigError, "#{@token_path}: not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}); delete the file to get a new one"
      end

      @ca_cert_hash = self.class.spki_sha256(OpenSSL::X509::Certificate.new(File.read(@ca_crt_path)))
      self
    end

    # "sha256:<hex>" of the DER SubjectPublicKeyInfo: the kubeadm caCertHashes format.
    def self.spki_sha256(cert)
      key = cert.public_key
      der = key.respond_to?(:public_to_der) ? key.public_to_der : key.to_der
      "sha256:#{OpenSSL::Digest::SHA256.hexdigest(der)}"
    end

    private

    def random_token
      pick = ->(n) { Array.new(n) { TOKEN_ALPHABET[SecureRandom.random_number(TOKEN_ALPHABET.size)] }.join }
      "#{pick.call(6)}.#{pick.call(16)}"
    end

    def generate_ca
      key = OpenSSL::PKey::RSA.new(2048)
      cert = OpenSSL::X509::Certificate.new
      cert.version = 2 # X.509 v3
      cert.serial = OpenSSL::BN.new(SecureRandom.random_number(2**62) + 1)
      cert.subject = OpenSSL::X509::Name.new([["CN", "kubernetes"]])
      cert.issuer = cert.subject
      cert.public_key = key
      cert.not_before = Time.now - 24 * 3600 # tolerate a guest clock behind the host
      cert.not_after = cert.not_before + CA_DAYS * 24 * 3600
      ext = OpenSSL::X509::ExtensionFactory.new(cert, cert)
      cert.add_extension(ext.create_extension("basicConstraints", "CA:TRUE", true))
      cert.add_extension(ext.create_extension("keyUsage", "digitalSignature,keyEncipherment,keyCertSign", true))
      cert.add_extension(ext.create_extension("subjectKeyIdentifier", "hash", false))
      cert.sign(key, OpenSSL::Digest.new("SHA256"))
      write_private(@ca_key_path, key.to_pem)
      File.write(@ca_crt_path, cert.to_pem)
    end

    def write_private(path, content)
      File.open(path, File::WRONLY | File::CREAT | File::TRUNC, 0o600) { |f| f.write(content) }
      File.chmod(0o600, path)
    end
  end

  # Directory for Secrets: <VAGRANT_DOTFILE_PATH or .vagrant>/cilab, relative to the lab dir.
  def self.secrets_dir(lab_dir, env = ENV)
    dotfile = env["VAGRANT_DOTFILE_PATH"].to_s
    dotfile = ".vagrant" if dotfile.empty?
    File.join(File.expand_path(dotfile, lab_dir), "cilab")
  end
end

# `ruby provisioning/lib/cilab_lab.rb versions [VERSIONS_FILE]` prints the effective values
# as JSON (used by the unit tests to compare with cilab/versions.py); exit 2 with the
# one-line error on a malformed value.  `... secrets DIR` ensures and prints the secrets.
if $PROGRAM_NAME == __FILE__
  begin
    case ARGV[0]
    when "versions"
      path = ARGV[1] || File.expand_path("../versions.env", __dir__)
      values = CilabLab.read_versions(path, ENV)
      puts JSON.generate({ "values" => values, "nodes" => CilabLab.nodes(values) })
    when "secrets"
      s = CilabLab::Secrets.ensure(ARGV.fetch(1))
      puts JSON.generate({ "token" => s.token, "ca_crt" => s.ca_crt_path,
                           "ca_key" => s.ca_key_path, "ca_cert_hash" => s.ca_cert_hash })
    else
      warn "usage: #{$PROGRAM_NAME} versions [FILE] | secrets DIR"
      exit 64
    end
  rescue CilabLab::ConfigError => e
    warn e.message
    exit 2
  end
end
