export { OsquerydEmulator, compareVersions, readLogRecords, type EmulatorOptions, type ReplayResult } from './manager';
export { checkExtensionFile, launchExtension, type LaunchOptions } from './launcher';
