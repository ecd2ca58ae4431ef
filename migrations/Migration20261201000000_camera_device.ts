import { Migration } from '@mikro-orm/migrations'

/**
 * Devices (issue 14): cameras.device is the device a camera is, or is a channel of (protocol,
 * address, channel, username, events, and the password sealed with the hub's master key). Null: a
 * plain RTSP camera as before, with no snapshots from the device, no PTZ and no device events.
 */
export class Migration20261201000000_camera_device extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE cameras ADD COLUMN device jsonb NULL')
  }

  override async down(): Promise<void> {
    this.addSql('ALTER TABLE cameras DROP COLUMN IF EXISTS device')
  }
}
